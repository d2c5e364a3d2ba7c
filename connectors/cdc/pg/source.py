"""A PostgreSQL table captured from the WAL: logical replication with ``pgoutput``.

Every committed insert, update and delete of the table becomes a row with op ``c``/``u``/``d``,
its before image (the table must have REPLICA IDENTITY FULL), the commit's time and the
transaction it belongs to; the snapshot runs between them (../capture.py, ../window.py). The
resume point is an LSN: the end of the last transaction handed out. Only saved positions are
confirmed to the slot, so a restart always receives again what a position stands before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg2
import structlog

from ...base import Position, SourceHealth
from ..capture import LogCapture
from . import pgoutput
from .catalog import Catalog
from .replication import Replication
from .settings import PgLogSettings

log = structlog.get_logger(__name__)


def libpq_url(url: str) -> str:
    """The connector file's SQLAlchemy URL (``postgresql+psycopg://…``, its scheme checked by
    PgLogSettings) as the URI libpq reads: the driver suffix dropped, the rest (escapes, query
    parameters) left to libpq. Parsed here so a log connector does not load SQLAlchemy (10 MB)
    for one URL."""
    return "postgresql://" + url.partition("://")[2]


def shown_url(url: str) -> str:
    """``url`` as SQLAlchemy shows it, password ``***`` and query sorted: the events'
    ``source.database``, as the query-based source writes it."""
    parts = urlsplit(url)
    query = "&".join(sorted(parts.query.split("&"), key=lambda item: item.partition("=")[0]))
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}")
    return urlunsplit(parts._replace(query=query))


class PgLogSource(LogCapture):
    settings_model = PgLogSettings
    driver_errors = (psycopg.Error, psycopg2.Error)

    def __init__(self, cfg: PgLogSettings, columns: list[str]) -> None:
        dsn = libpq_url(cfg.url.get_secret_value())
        self._catalog = Catalog(cfg, dsn)
        self._chunks = Catalog(cfg, dsn)  # selects the next snapshot chunk on a thread of its own
        super().__init__(cfg, columns, shown_url(cfg.url.get_secret_value()), self._catalog)
        self._pg = cfg
        self._dsn = dsn
        self._stream: Replication | None = None
        self._relation: pgoutput.Relation | None = None
        self._loaders: list[tuple[str, Callable[[bytes], Any]]] = []

    def _prepare(self) -> None:
        self._catalog.ensure_publication()
        if self._catalog.ensure_slot(self._dsn):
            log.info("source.slot_created", slot=self._pg.slot_name, publication=self._pg.publication_name)
            self._lost_log = True  # a saved position older than the slot has nothing to resume from

    # --- the log -------------------------------------------------------------------------------
    def _open_log(self, resume: Any) -> None:
        self._relation = None
        self._stream = Replication(self._dsn, self._pg.slot_name, self._pg.publication_name, int(resume or 0))

    def _close_log(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._catalog.close()

    def _poll(self, timeout_s: float) -> bool:
        assert self._stream is not None
        message = self._stream.message(timeout_s)
        if message is None:
            return False
        self._on(pgoutput.decode(message[1]))
        return True

    def _on(self, message: pgoutput.Message) -> None:
        if isinstance(message, pgoutput.Begin):
            self._begin(
                f"{message.xid}:{message.final_lsn}", message.final_lsn, message.commit_ts_ms, message.xid
            )
        elif isinstance(message, pgoutput.Commit):
            self._commit(message.end_lsn, message.end_lsn)
        elif isinstance(message, pgoutput.Relation):
            if (message.namespace, message.name) == (self._catalog.schema, self._catalog.name):
                self._relation = message
                self._loaders = [(c.name, self._catalog.load(c.type_oid)) for c in message.columns]
        elif isinstance(message, pgoutput.Change):
            if self._relation is not None and message.relation_oid == self._relation.oid:
                old = self._values(message.old) if message.old is not None else None
                new = self._values(message.new, old) if message.new is not None else None
                values = new if new is not None else old
                assert values is not None
                self._change(message.op, values, old)  # type: ignore[arg-type]
        elif (
            isinstance(message, pgoutput.Truncate)
            and self._relation is not None
            and self._relation.oid in message.relation_oids
        ):
            self._bad(
                f"{self._cfg.table} was truncated: the log does not say which rows went, so no delete "
                "events follow; ask for a re-snapshot (civicbus connectors snapshot) or reconcile"
            )

    def _values(self, raw: pgoutput.Tuple, old: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {}
        for (name, load), value in zip(self._loaders, raw, strict=True):
            if value is pgoutput.UNCHANGED:
                values[name] = old.get(name) if old else None
            else:
                values[name] = None if value is None else load(value)  # type: ignore[arg-type]
        return values

    def _log_reached(self) -> Any:
        return self._stream.wal_end if self._stream is not None else 0

    def _ask_position(self) -> None:
        if self._stream is not None:
            self._stream.ask_position()

    def _release(self, resume: Any, idle_at: Any | None) -> None:
        if self._stream is not None:
            self._stream.confirm(max(int(resume or 0), int(idle_at or 0)))
            if idle_at is not None and idle_at <= int(resume or 0):
                self._stream.ask_position()  # so the next heartbeat knows a fresher position

    # --- snapshot queries ----------------------------------------------------------------------
    def _selector(self) -> Catalog:
        return self._chunks

    def health(self, after: Position | None) -> SourceHealth | None:
        with self._available("ask"):
            lag = self._catalog.slot_lag_bytes()
        return SourceHealth(pending=self._pending(), log_lag_bytes=lag)
