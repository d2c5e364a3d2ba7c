"""A PostgreSQL table captured from the WAL: logical replication with ``pgoutput``.

Every committed insert, update and delete of the table becomes a row with op ``c``/``u``/``d``,
its before image (the table must have REPLICA IDENTITY FULL), the commit's time and the
transaction it belongs to. The initial snapshot, and any re-snapshot a signal asks for, is read
in key chunks between the log's transactions with DBLog watermarks (../window.py), while changes
keep flowing.

Positions: ``{"lsn": L, "skip": n, "tx": T, "snap": S}``. L is the end of the last transaction
every row of which was handed out (replication restarts there); ``n`` rows of the next
transaction (committed at T) were already handed out and are skipped on a restart; S, while a
snapshot runs, is where the next chunk starts. Only transaction ends are ever confirmed to the
server, so a restart always receives the transaction a position stands inside.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg2
import sqlalchemy as sa
import structlog

from ...base import ColumnUse, Position, Source, SourceHealth, SourceRow, SourceUnavailable, Transaction
from ...sql import bookmark
from ..window import Chunk, key_of
from . import pgoutput
from .catalog import Catalog
from .replication import Replication
from .settings import PgLogSettings

log = structlog.get_logger(__name__)
Snap = dict[str, Any]


@dataclass
class _Txn:
    """The transaction being received."""

    begin: pgoutput.Begin
    skip: int
    count: int = 0
    held: SourceRow | None = None
    """The last row so far: released once the next row or the commit says what position follows."""
    rows: list[SourceRow] = field(default_factory=list)


class PgLogSource(Source):
    settings_model = PgLogSettings
    follows_log = True

    def __init__(self, cfg: PgLogSettings, columns: list[str]) -> None:
        self._cfg = cfg
        url = sa.make_url(cfg.url.get_secret_value())
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._description = {
            "database": url.render_as_string(hide_password=True),
            "table": cfg.table,
        }
        self._wanted = columns
        self._catalog = Catalog(cfg, self._dsn)
        self._stream: Replication | None = None
        self._slot_created = False
        self._relation: pgoutput.Relation | None = None
        self._loaders: list[tuple[str, Callable[[bytes], Any]]] = []
        self._ready: deque[SourceRow] = deque()
        self._txn: _Txn | None = None
        self._chunk: Chunk | None = None
        self._lsn = 0
        self._skip = 0
        self._snap: Snap | None = None
        self._handed: Position | None = None
        self._saved: Position | None = None
        self._beat_at = time.monotonic()

    def describe(self) -> dict[str, str]:
        return dict(self._description)

    # --- setup -------------------------------------------------------------------------------
    def problems(self, uses: list[ColumnUse]) -> list[str]:
        with self._available("connect to"):
            found = self._catalog.problems()
            if found:
                return found
            missing = sorted(set(self._wanted) - self._catalog.columns())
        return [f"source: {self._cfg.table!r} has no column(s) {missing}"] if missing else []

    def setup(self) -> None:
        found = self.problems([])
        if found:
            raise ValueError("; ".join(found))
        with self._available("prepare capture on"):
            self._catalog.ensure_publication()
            self._slot_created = self._catalog.ensure_slot(self._dsn)
        if self._slot_created:
            log.info("source.slot_created", slot=self._cfg.slot_name, publication=self._cfg.publication_name)

    # --- reading -----------------------------------------------------------------------------
    def read(self, after: Position | None, limit: int) -> list[SourceRow]:
        with self._available("read the log of"):
            try:
                return self._read(after, limit)
            except (psycopg.Error, psycopg2.Error):
                self._drop_stream()
                raise

    def _read(self, after: Position | None, limit: int) -> list[SourceRow]:
        if self._stream is None or after != self._handed:
            self._restart(after)
        assert self._stream is not None
        out: list[SourceRow] = []
        waited = False
        while len(out) < limit:
            if self._ready:
                out.append(self._ready.popleft())
                continue
            if self._snap is not None and self._chunk is None and self._txn is None:
                self._open_chunk()
                continue
            message = self._stream.message(0 if out or waited else self._cfg.wait_s)
            if message is not None:
                self._on(*message)
                continue
            if self._chunk is not None and self._txn is None and self._chunk.closes_at(self._stream.wal_end):
                self._close_chunk(self._lsn)
                continue
            if out or waited:
                break
            waited = True
            if self._chunk is not None:
                self._stream.ask_position()
        if out:
            self._handed = out[-1].position
        else:
            self._heartbeat()
        return out

    def _restart(self, after: Position | None) -> None:
        """(Re)start replication at ``after``: whatever was received past it is forgotten."""
        self._drop_stream()
        self._ready.clear()
        self._txn = self._chunk = self._relation = None
        position: dict[str, Any] = dict(after) if after is not None else {"lsn": 0}
        if after is None and self._cfg.snapshot == "initial":
            position["snap"] = self._snap_start()
        elif after is not None and self._slot_created and "snap" not in position:
            log.warning(
                "source.slot_recreated",
                slot=self._cfg.slot_name,
                note="changes while it was gone are not in the log: the table is snapshotted again",
            )
            position["snap"] = self._snap_start()
        self._slot_created = False
        self._lsn = int(position.get("lsn", 0))
        self._skip = int(position.get("skip", 0))
        self._snap = position.get("snap")
        self._stream = Replication(self._dsn, self._cfg.slot_name, self._cfg.publication_name, self._lsn)
        self._handed = self._saved = after
        log.info("source.replication_started", slot=self._cfg.slot_name, lsn=self._lsn, skip=self._skip)

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._catalog.close()

    def _on(self, lsn: int, payload: bytes) -> None:
        message = pgoutput.decode(payload)
        if isinstance(message, pgoutput.Begin):
            self._txn = _Txn(message, skip=self._skip)
            self._skip = 0
        elif isinstance(message, pgoutput.Commit):
            self._commit(message)
        elif isinstance(message, pgoutput.Relation):
            if (message.namespace, message.name) == (self._catalog.schema, self._catalog.name):
                self._relation = message
                self._loaders = [(c.name, self._catalog.load(c.type_oid)) for c in message.columns]
        elif isinstance(message, pgoutput.Change):
            if self._relation is not None and message.relation_oid == self._relation.oid:
                self._change(message)
        elif (
            isinstance(message, pgoutput.Truncate)
            and self._relation is not None
            and self._relation.oid in message.relation_oids
        ):
            self._add(SourceRow.bad({"table": self._cfg.table}, None, self._truncated()))

    def _truncated(self) -> str:
        return (
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

    def _change(self, change: pgoutput.Change) -> None:
        assert self._txn is not None
        old = self._values(change.old) if change.old is not None else None
        new = self._values(change.new, old) if change.new is not None else None
        values = new if new is not None else old
        assert values is not None
        key = {k: values[k] for k in self._cfg.key_columns}
        if self._chunk is not None:
            self._chunk.touched(key_of(values, self._cfg.key_columns), self._txn.begin.final_lsn)
        begin = self._txn.begin
        self._add(
            SourceRow(
                values=values,
                key=key,
                position=None,
                op=change.op,  # type: ignore[arg-type]
                source_ts_ms=begin.commit_ts_ms,
                before=old,
                transaction=Transaction(f"{begin.xid}:{begin.final_lsn}", self._txn.count + 1),
            )
        )

    def _add(self, row: SourceRow) -> None:
        """Hold ``row`` as its transaction's latest; release the one held before it."""
        txn = self._txn
        assert txn is not None
        txn.count += 1
        if txn.count <= txn.skip:  # handed out before the restart
            return
        if txn.held is not None:
            mid = {"lsn": self._lsn, "skip": txn.count - 1, "tx": txn.begin.final_lsn}
            self._ready.append(self._positioned(txn.held, mid))
        txn.held = row

    def _commit(self, commit: pgoutput.Commit) -> None:
        txn, self._txn = self._txn, None
        self._lsn = commit.end_lsn
        if txn is not None and txn.held is not None:
            self._ready.append(self._positioned(txn.held, {"lsn": self._lsn}))
        if self._chunk is not None and self._chunk.closes_at(commit.end_lsn):
            self._close_chunk(commit.end_lsn)

    def _positioned(self, row: SourceRow, position: dict[str, Any]) -> SourceRow:
        if self._snap is not None:
            position["snap"] = dict(self._snap)
        return SourceRow(
            values=row.values,
            key=row.key,
            position=position,
            op=row.op,
            source_ts_ms=row.source_ts_ms,
            error=row.error,
            before=row.before,
            transaction=row.transaction,
        )

    # --- snapshot ----------------------------------------------------------------------------
    def _snap_start(self) -> Snap:
        upto, total = self._catalog.bounds()
        log.info("source.snapshot_started", table=self._cfg.table, rows=total)
        return {"key": None, "upto": bookmark.encode(upto) if upto else None, "rows": 0, "total": total}

    def _open_chunk(self) -> None:
        """Select the next chunk between two watermarks; end the snapshot when none is left."""
        snap = self._snap
        assert snap is not None
        if snap["upto"] is None:
            self._end_snapshot()
            return
        after = bookmark.decode(snap["key"]) if snap["key"] else None
        low = self._catalog.wal_lsn()
        rows = self._catalog.chunk(after, bookmark.decode(snap["upto"]), self._cfg.chunk_size)
        high = self._catalog.wal_lsn()
        if not rows:
            self._end_snapshot()
            return
        keys = self._cfg.key_columns
        self._chunk = Chunk(
            low=low,
            high=high,
            rows={key_of(r, keys): r for r in rows},
            last=[rows[-1][k] for k in keys],
            complete=len(rows) < self._cfg.chunk_size,
        )

    def _close_chunk(self, lsn: int) -> None:
        """The log passed the chunk's high watermark: emit what no change overtook, in key order."""
        chunk, self._chunk = self._chunk, None
        snap = self._snap
        assert chunk is not None and snap is not None
        keys = self._cfg.key_columns
        for values in chunk.rows.values():
            snap = {**snap, "key": bookmark.encode([values[k] for k in keys]), "rows": snap["rows"] + 1}
            self._snap = snap
            self._ready.append(
                self._positioned(
                    SourceRow(values=values, key={k: values[k] for k in keys}, position=None), {"lsn": lsn}
                )
            )
        self._snap = {**snap, "key": bookmark.encode(chunk.last)}
        if chunk.complete:
            self._end_snapshot()
            if self._ready and self._ready[-1].position.get("snap"):
                last = self._ready.pop()
                self._ready.append(self._positioned(last, {"lsn": lsn}))

    def _end_snapshot(self) -> None:
        if self._snap is not None:
            log.info("source.snapshot_done", table=self._cfg.table, rows=self._snap["rows"])
        self._snap = None

    def resnapshot(self) -> bool:
        if self._snap is None:
            with self._available("start a snapshot of"):
                self._snap = self._snap_start()
        return True

    def progress(self) -> tuple[int, int] | None:
        snap = self._snap
        return None if snap is None else (snap["rows"], max(snap["total"], snap["rows"]))

    # --- the slot ------------------------------------------------------------------------------
    def confirm(self, position: Position) -> None:
        self._saved = position
        if self._stream is not None and isinstance(position, dict):
            try:
                self._stream.confirm(int(position.get("lsn", 0)))
            except psycopg2.Error:
                self._drop_stream()  # the next read restarts and says why if it cannot

    def _heartbeat(self) -> None:
        """Idle and everything handed out saved: confirm the server's own position now and then,
        so WAL written for other tables is released (the slot's lag stays small)."""
        now = time.monotonic()
        if now - self._beat_at < self._cfg.heartbeat_interval_s or self._stream is None:
            return
        self._beat_at = now
        if self._txn is not None or self._chunk is not None or self._ready or self._handed != self._saved:
            return
        if self._stream.wal_end > self._lsn:
            self._stream.confirm(self._stream.wal_end)
        else:
            self._stream.ask_position()

    def health(self, after: Position | None) -> SourceHealth | None:
        with self._available("ask"):
            lag = self._catalog.slot_lag_bytes()
        snap = self._snap
        pending = max(snap["total"] - snap["rows"], 0) if snap else 0
        return SourceHealth(pending=pending, log_lag_bytes=lag)

    @contextmanager
    def _available(self, doing: str) -> Iterator[None]:
        """Turn the drivers' errors into SourceUnavailable naming the database."""
        try:
            yield
        except (psycopg.Error, psycopg2.Error) as exc:
            raise SourceUnavailable(
                f"cannot {doing} {self._description['database']}: {str(exc).strip()}"
            ) from exc

    def close(self) -> None:
        self._drop_stream()
