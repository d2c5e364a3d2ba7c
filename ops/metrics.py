"""Every Prometheus metric civicbus exports, in one place.

Components import the metric objects from here and never create their own, so the names an
operator's dashboards and alerts rely on are listed once (ops/alerts.yml and
ops/dashboards/ use exactly these). :func:`serve` starts the HTTP endpoint of a process.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""The environment variable that puts a process's metrics in files of that folder (set before
prometheus-client is imported: in a child process), for :func:`serve_processes` to sum."""

# --- connectors: one label value per connector name -------------------------------------------
CONNECTOR_UP = Gauge("civicbus_connector_up", "1 while the connector's poll loop is running", ["connector"])
CONNECTOR_ROWS_READ = Counter(
    "civicbus_connector_rows_read_total", "Rows read from the source database", ["connector"]
)
CONNECTOR_ROWS_PRODUCED = Counter(
    "civicbus_connector_rows_produced_total",
    "Events acknowledged by the broker on the connector's topic",
    ["connector"],
)
CONNECTOR_DEAD_LETTERS = Counter(
    "civicbus_connector_dead_letters_total",
    "Rows that could not be mapped and went to the dead-letter topic",
    ["connector", "field"],
)
CONNECTOR_ERRORS = Counter(
    "civicbus_connector_errors_total",
    "Failed polls or deliveries that were retried (database or broker unavailable), encode workers lost",
    ["connector", "stage"],
)
CONNECTOR_RESTARTS = Counter(
    "civicbus_connector_restarts_total",
    "Times the supervisor restarted a connector that crashed",
    ["connector"],
)
CONNECTOR_HARD_DELETES = Counter(
    "civicbus_connector_hard_deletes_total",
    "Rows found deleted from the source by key reconciliation",
    ["connector"],
)
CONNECTOR_LAST_POLL = Gauge(
    "civicbus_connector_last_successful_poll_timestamp_seconds",
    "Unix time of the last poll whose events were all acknowledged",
    ["connector"],
)
CONNECTOR_BYTES = Counter(
    "civicbus_connector_bytes_total",
    "Bytes of keys and values acknowledged on the connector's topic",
    ["connector"],
)
CONNECTOR_SOURCE_LAG = Gauge(
    "civicbus_connector_source_lag_seconds",
    "How far the connector is behind the newest change in its source (0 when caught up, "
    "however quiet the table)",
    ["connector"],
)
CONNECTOR_ROWS_PENDING = Gauge(
    "civicbus_connector_rows_pending",
    "Rows in the source after the saved position, not yet delivered (where the source can count)",
    ["connector"],
)
CONNECTOR_UNPLACED_ROWS = Gauge(
    "civicbus_connector_unplaced_rows",
    "Rows a streaming capture can never place in its order (a NULL ordering value): not captured",
    ["connector"],
)
CONNECTOR_LOG_LAG_BYTES = Gauge(
    "civicbus_connector_log_lag_bytes",
    "Change log (WAL) the source database keeps for this capture, not yet confirmed: its "
    "replication slot's lag. It grows without bound while the connector is away",
    ["connector"],
)
CONNECTOR_SNAPSHOT_ROWS = Gauge(
    "civicbus_connector_snapshot_rows",
    "Rows read so far by a running snapshot",
    ["connector"],
)
CONNECTOR_SNAPSHOT_TOTAL = Gauge(
    "civicbus_connector_snapshot_total_rows",
    "Rows in the table when its snapshot started",
    ["connector"],
)
CONNECTOR_POLL_SECONDS = Histogram(
    "civicbus_connector_poll_duration_seconds",
    "Time of one poll: query, map, produce and acknowledge",
    ["connector"],
)

# --- streams ------------------------------------------------------------------------------------
STREAMS_EVENTS = Counter(
    "civicbus_streams_events_processed_total",
    "Source events consumed by a stream processor",
    ["processor", "topic"],
)
STREAMS_VIEW_UPDATES = Counter(
    "civicbus_streams_view_updates_total",
    "Records written to a unified view topic (updates and tombstones)",
    ["view"],
)
STREAMS_RETRIES = Counter(
    "civicbus_streams_retries_total",
    "Events a processor held back and retried because a service was away (nothing dead-lettered)",
    ["processor", "service"],
)
STREAMS_DEAD_LETTERS = Counter(
    "civicbus_streams_dead_letters_total",
    "Events a processor could not decode or apply, sent to its dead-letter topic",
    ["processor"],
)
STREAMS_RESTORED = Counter(
    "civicbus_streams_changelog_restored_total",
    "State records a worker read from a view's changelog into its local store (the tail past its checkpoint)",
    ["view"],
)
STREAMS_ABORTED = Counter(
    "civicbus_streams_transactions_aborted_total",
    "Batches whose transaction was aborted; they are folded again by the next session",
)
STREAMS_RESTARTS = Counter(
    "civicbus_streams_session_restarts_total",
    "Times the streams engine left the group and started a new session after a failure",
)
STREAMS_PROCESS_RESTARTS = Counter(
    "civicbus_streams_process_restarts_total",
    "Engine processes of a streams worker that exited while it ran and were started again "
    "(counted by the worker itself, not its engine processes)",
)

# --- sharing with downstream apps --------------------------------------------------------------
SHARE_RECORDS = Counter(
    "civicbus_share_records_total",
    "Records written to an app's projected topic (updates and tombstones)",
    ["app", "view"],
)
SHARE_DEAD_LETTERS = Counter(
    "civicbus_share_dead_letters_total",
    "View records a projection could not decode or project, sent to civicbus.share.deadletters",
    ["app"],
)
SHARE_GRANTS = Gauge("civicbus_share_grants", "Grants in force (valid, unexpired) by app", ["app"])
SHARE_INVALID_GRANTS = Gauge(
    "civicbus_share_invalid_grant_files", "Grant files refused at the last reload (nothing shared for them)"
)
SHARE_REFUSALS = Counter(
    "civicbus_share_refusals_total",
    "Accesses the broker's authorizer refused, by principal (from its log)",
    ["principal"],
)
SHARE_RESTARTS = Counter(
    "civicbus_share_session_restarts_total",
    "Times a projection started a new session after a failed transaction or lost client",
    ["app"],
)

# --- schema registry ----------------------------------------------------------------------------
REGISTRY_REQUESTS = Counter(
    "civicbus_registry_requests_total", "Registry HTTP requests by route and status", ["route", "status"]
)
REGISTRY_SCHEMAS = Gauge("civicbus_registry_schemas", "Distinct schemas (IDs) held by the registry")


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Serve /metrics for this process on ``addr:port`` from a daemon thread. Port 0 disables."""
    if port:
        start_http_server(port, addr=addr)


def serve_processes(port: int, addr: str, folder: str, prefix: str) -> None:
    """Serve /metrics summed over the processes writing theirs to ``folder`` (each started with
    ``MULTIPROCESS_DIR`` set to it): the metrics named ``prefix``…, counters added up across the
    processes and their restarts (the others, which those processes never touch, would show as
    one zero per process), and this process's own :data:`STREAMS_PROCESS_RESTARTS`."""
    if port:
        registry = CollectorRegistry()
        summed = multiprocess.MultiProcessCollector(None, path=folder)  # type: ignore[no-untyped-call]
        own = {family.name for family in STREAMS_PROCESS_RESTARTS.describe()}
        registry.register(_Named(summed, prefix, own))
        registry.register(STREAMS_PROCESS_RESTARTS)
        start_http_server(port, addr=addr, registry=registry)


class _Named(Collector):
    def __init__(self, inner: Collector, prefix: str, own: set[str]) -> None:
        self._inner, self._prefix, self._own = inner, prefix, own

    def collect(self) -> Iterable[Metric]:
        return [
            family
            for family in self._inner.collect()
            if family.name.startswith(self._prefix) and family.name not in self._own
        ]
