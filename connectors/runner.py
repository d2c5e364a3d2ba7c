"""The poll loop that turns one connector's rows into acknowledged events.

Per batch: read rows after the last produced one → map each (bad rows become dead letters) →
produce key and envelope in the Confluent wire format → read the next batch while the broker
acknowledges (at most two batches in flight) → once a batch and every batch before it are
acknowledged, save the position after its last row. If anything fails to deliver, nothing after
the last saved position counts: the connector re-reads from there after a backoff. At-least-once,
with duplicates only from the batches that were in flight.

A database or broker outage is waited out with exponential backoff (logged, counted in
``civicbus_connector_errors_total``); the loop ends only when ``stop`` is set, after finishing
the batch in hand.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from civicbus.kafka import Stopped, ensure_topic, producer
from ops import metrics
from schemas import model
from schemas.registry.client import RegistryClient
from schemas.registry.errors import RegistryError
from schemas.wire import AvroDecoder, AvroEncoder, SerializationError

from .base import Source, SourceRow
from .config import ConnectorConfig, ConnectorSettings
from .deadletter import DeadLetters
from .inflight import InFlight
from .kinds import source_type
from .mapping import Mapper, MappingError
from .positions import PositionStore
from .progress import Progress
from .reconcile import Reconciler, source_key
from .status import Status, StatusReporter

log = structlog.get_logger(__name__)


class Backoff:
    """Exponential waits (0.5 s doubling to a cap), reset after a success."""

    def __init__(self, cap_s: float) -> None:
        self._cap = cap_s
        self._next = 0.5

    def wait(self, stop: threading.Event) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        stop.wait(delay)
        return delay

    def reset(self) -> None:
        self._next = 0.5


MAX_BATCHES_IN_FLIGHT = 2


@dataclass(frozen=True)
class Sent:
    """What one produced batch carries, counted once the broker acknowledged it."""

    produced: int
    dead: int
    size: int
    newest_ts_ms: int | None


class Connector:
    """One configured connector; :meth:`run` blocks until ``stop`` is set."""

    def __init__(
        self, cfg: ConnectorConfig, settings: ConnectorSettings, source: Source | None = None
    ) -> None:
        self.cfg = cfg
        self.settings = settings
        entity = model.schema(cfg.target.schema_name)
        if cfg.target.key not in {f["name"] for f in entity["fields"]}:
            raise ValueError(f"target.key: {cfg.target.key!r} is not a field of {entity['name']}")
        self.mapper = Mapper(cfg.mapping, entity, cfg.source.zone)
        self.source = source or source_type(cfg.source.type)(cfg.source, self.mapper.columns)
        self._envelope = model.envelope(cfg.target.schema_name)
        self._log = log.bind(connector=cfg.name)
        self._backoff = Backoff(settings.max_backoff_s)
        self._source_block: dict[str, str] | None = None
        self._reconciler: Reconciler | None = None

    # --- set-up --------------------------------------------------------------------------------
    def _setup(self, stop: threading.Event) -> tuple[KafkaProducer, AvroEncoder, AvroEncoder]:
        while not stop.is_set():
            try:
                self.source.setup()
                break
            except sa.exc.OperationalError as exc:
                metrics.CONNECTOR_ERRORS.labels(self.cfg.name, "source").inc()
                self._log.warning(
                    "source.unavailable", error=str(exc.orig), retry_in_s=self._backoff.wait(stop)
                )
        if stop.is_set():
            raise Stopped("source")
        self._backoff.reset()
        bootstrap = self.settings.bootstrap_servers
        ensure_topic(bootstrap, self.cfg.target.topic, self.cfg.target.partitions, stop=stop)
        ensure_topic(bootstrap, self.cfg.dead_letter_topic, 1, stop=stop)
        registry = RegistryClient(self.settings.registry_url)
        self._decode = AvroDecoder(registry)
        key_enc = AvroEncoder(registry, f"{self.cfg.target.topic}-key", model.KEY_SCHEMA)
        value_enc = AvroEncoder(registry, f"{self.cfg.target.topic}-value", self._envelope)
        while not stop.is_set():
            try:  # register now: an incompatible schema must stop the connector before any read
                registry.register(key_enc.subject, key_enc.schema)
                registry.register(value_enc.subject, value_enc.schema)
                break
            except RegistryError as exc:
                if exc.code < 50000:
                    raise
                self._log.warning(
                    "registry.unavailable", error=exc.message, retry_in_s=self._backoff.wait(stop)
                )
        if stop.is_set():
            raise Stopped("registry")
        client = producer(bootstrap, "connector producer", stop, linger_ms=5, batch_size=256 * 1024)
        return client, key_enc, value_enc

    # --- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        name = self.cfg.name
        try:
            producer, key_enc, value_enc = self._setup(stop)
        except Stopped as exc:
            self._log.info("connector.stopped", during_setup=str(exc))
            self.source.close()
            return
        positions = PositionStore(self.settings.bootstrap_servers, self.settings.positions_topic, producer)
        saved = positions.load(name)
        ensure_topic(self.settings.bootstrap_servers, self.settings.status_topic, compacted=True)
        self._status = StatusReporter(
            producer, self.settings.status_topic, Status(name, topic=self.cfg.target.topic, position=saved)
        )
        self._status.publish("RUNNING")
        interval = self.cfg.source.reconcile_interval_s
        self._reconciler = (
            Reconciler(self.settings.bootstrap_servers, f"civicbus.connector-keys.{name}", producer, interval)
            if interval
            else None
        )
        dead = DeadLetters(
            producer,
            self.cfg.dead_letter_topic,
            name,
            {**self.source.describe(), "department": self.cfg.department},
        )
        self._log.info("connector.started", topic=self.cfg.target.topic, position=saved)
        metrics.CONNECTOR_UP.labels(name).set(1)
        inflight: InFlight[Sent] = InFlight()
        progress = Progress(name)
        read_at = saved  # after the last row produced; ``saved`` trails it until acknowledged
        try:
            while not stop.is_set():
                self._status.tick()
                started = time.monotonic()
                try:
                    rows = self.source.read(read_at, self.cfg.batch_size)
                except sa.exc.DBAPIError as exc:
                    self._retry("source", "source.read_failed", str(exc.orig), stop)
                    continue
                metrics.CONNECTOR_ROWS_READ.labels(name).inc(len(rows))
                progress.update(self.source.progress())
                if rows:
                    futures, sent = self._send(producer, rows, key_enc, value_enc, dead)
                    inflight.add(futures, rows[-1].position, sent)
                    read_at = rows[-1].position
                idle = len(rows) < self.cfg.batch_size
                # keep one batch in flight while the next is read; wait when idle or two are out
                if idle or len(inflight) >= MAX_BATCHES_IN_FLIGHT:
                    inflight.wait_oldest(all_of_them=idle)
                try:
                    saved = self._settle(inflight, positions, saved)
                except KafkaError as exc:
                    read_at = saved
                    self._retry("produce", "batch.delivery_failed", str(exc), stop)
                    continue
                if self._reconciler is not None and not len(inflight) and self._reconciler.due():
                    self._reconcile(producer, key_enc, value_enc, stop)
                self._backoff.reset()
                metrics.CONNECTOR_LAST_POLL.labels(name).set(time.time())
                metrics.CONNECTOR_POLL_SECONDS.labels(name).observe(time.monotonic() - started)
                cap = self.cfg.source.max_rows_per_s
                if cap and rows:  # protect the legacy database: never read faster than the cap
                    stop.wait(max(len(rows) / cap - (time.monotonic() - started), 0))
                if idle:
                    stop.wait(self.cfg.poll_interval_s)
        finally:
            metrics.CONNECTOR_UP.labels(name).set(0)
            producer.flush(timeout=30)
            try:
                saved = self._settle(inflight, positions, saved)
            except KafkaError as exc:
                self._log.warning("batch.delivery_failed", error=str(exc), during="stop")
            self._status.publish("STOPPED")
            producer.flush(timeout=30)
            producer.close(timeout=30)
            self.source.close()
            self._log.info("connector.stopped", position=saved)

    def _settle(self, inflight: InFlight[Sent], positions: PositionStore, saved: Any) -> Any:
        """Save the position of every leading acknowledged batch; returns the saved position.

        Raises KafkaError when a batch failed (or its position could not be saved): the caller
        re-reads from the returned-before position."""
        done = inflight.acknowledged()
        if not done:
            return saved
        last = done[-1]
        try:
            positions.save(self.cfg.name, last.position)
        except KafkaError:
            inflight.clear()
            raise
        name = self.cfg.name
        for batch in done:
            sent = batch.info
            metrics.CONNECTOR_ROWS_PRODUCED.labels(name).inc(sent.produced)
            metrics.CONNECTOR_BYTES.labels(name).inc(sent.size)
            if sent.newest_ts_ms is not None:
                metrics.CONNECTOR_LAG.labels(name).set(max(time.time() - sent.newest_ts_ms / 1000, 0))
            self._status.delivered(sent.produced, sent.dead, batch.position, sent.newest_ts_ms)
        return last.position

    def _reconcile(
        self, producer: KafkaProducer, key_enc: AvroEncoder, value_enc: AvroEncoder, stop: threading.Event
    ) -> None:
        """Produce a delete event (and tombstone) for every delivered row gone from the source."""
        assert self._reconciler is not None
        try:
            gone = self._reconciler.deleted(self.source.keys())
        except sa.exc.DBAPIError as exc:
            self._retry("reconcile", "reconcile.failed", str(exc.orig), stop)
            return
        futures: list[FutureRecordMetadata] = []
        for index_key, last_event in gone:
            before = self._decode(last_event)["after"]
            key = key_enc(str(before[self.cfg.target.key]))
            row = SourceRow(values={}, key=json.loads(index_key), position="reconcile", op="d")
            event = self._event(row, before, [])  # op d: before is the last record, after null
            futures.append(producer.send(self.cfg.target.topic, key=key, value=value_enc(event)))
            if self.cfg.target.tombstones:
                futures.append(producer.send(self.cfg.target.topic, key=key, value=None))
            futures.append(self._reconciler.forget(index_key))
        producer.flush()
        try:
            for f in futures:
                f.get(timeout=0)
        except KafkaError as exc:
            self._retry("reconcile", "reconcile.failed", str(exc), stop)
            return
        metrics.CONNECTOR_HARD_DELETES.labels(self.cfg.name).inc(len(gone))
        if gone:
            self._log.info("reconcile.deleted", rows=len(gone))

    def _retry(self, stage: str, event: str, error: str, stop: threading.Event) -> None:
        """Count and log a failure of ``stage``, then back off before the same batch is retried."""
        metrics.CONNECTOR_ERRORS.labels(self.cfg.name, stage).inc()
        self._status.failed()
        self._log.warning(event, error=error, retry_in_s=self._backoff.wait(stop))

    def _event(self, row: SourceRow, record: dict[str, Any], flags: list[str]) -> dict[str, Any]:
        deleted = row.op == "d"
        if self._source_block is None:
            self._source_block = {
                **self.source.describe(),
                "department": self.cfg.department,
                "system": self.cfg.system,
                "connector": self.cfg.name,
            }
        return {
            "op": row.op,
            "before": record if deleted else None,
            "after": None if deleted else record,
            "source": {
                **self._source_block,
                "key": json.dumps({k: str(v) for k, v in row.key.items()}, ensure_ascii=False),
                "position": json.dumps(row.position, ensure_ascii=False),
            },
            "ts_ms": int(time.time() * 1000),
            "source_ts_ms": row.source_ts_ms,
            "quality": flags,
        }

    def _send(
        self,
        producer: KafkaProducer,
        rows: list[SourceRow],
        key_enc: AvroEncoder,
        value_enc: AvroEncoder,
        dead: DeadLetters,
    ) -> tuple[list[FutureRecordMetadata], Sent]:
        """Produce one batch (events, tombstones, dead letters) without waiting for acks."""
        futures: list[FutureRecordMetadata] = []
        produced = size = dead_count = 0
        newest_ts: int | None = None
        topic = self.cfg.target.topic
        for row in rows:
            try:
                record, flags = self.mapper(row.values)
                key = key_enc(str(record[self.cfg.target.key]))
                value = value_enc(self._event(row, record, flags))
            except MappingError as exc:
                futures.append(dead.send(row.values, row.key, row.position, exc.field, exc.reason))
                dead_count += 1
                continue
            except SerializationError as exc:
                futures.append(dead.send(row.values, row.key, row.position, "(record)", str(exc)))
                dead_count += 1
                continue
            futures.append(producer.send(topic, key=key, value=value))
            if self._reconciler is not None:
                index = self._reconciler
                futures.append(
                    index.forget(source_key(row.key)) if row.op == "d" else index.remember(row.key, value)
                )
            if row.op == "d" and self.cfg.target.tombstones:
                futures.append(producer.send(topic, key=key, value=None))
            produced += 1
            size += len(key) + len(value)
            if row.source_ts_ms is not None:
                newest_ts = max(newest_ts or 0, row.source_ts_ms)
        return futures, Sent(produced, dead_count, size, newest_ts)
