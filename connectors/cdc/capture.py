"""What every log-based source does the same way, whatever the database: transactions turned
into rows with positions, DBLog snapshot chunks between them, restarts at a position.

A database type (pg/, mysql/) supplies the log: :meth:`LogCapture._open_log` starts it at a
resume point, :meth:`LogCapture._poll` reads one message and reports it through
:meth:`_begin`, :meth:`_change` and :meth:`_commit`; its :class:`TableCatalog` checks the table
and selects snapshot chunks between watermarks.

Positions: ``{"log": R, "skip": n, "snap": S}``. R is the database's resume point just after the
last transaction every row of which was handed out (the log restarts there); ``n`` rows of the
transaction after R were already handed out and are skipped on a restart; S, while a snapshot
runs, says where its next chunk starts (see window.py). A transaction's last row is held back
until its commit is read, so the position after it is always a clean transaction end.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import structlog

from ..base import ColumnUse, Op, Position, Source, SourceRow, SourceUnavailable, Transaction
from ..sql import bookmark
from .settings import LogSettings
from .window import Chunk, Key, Selected, key_of

log = structlog.get_logger(__name__)
Snap = dict[str, Any]

HISTORY = 50_000
"""Changes kept for chunks not opened yet (:attr:`LogCapture._recent`). A transaction the log
handed out before a chunk's SELECT yet invisible to it is among the last few received; more are
kept only while a chunk selected ahead waits to open, and past this it is selected again."""


@dataclass
class _Ahead:
    """The next chunk, being selected on a thread of its own while the current one is open."""

    after: Any
    upto: Any
    """The snapshot's key and bound it was selected for (bookmarks): used only if still current."""
    selected: Future[Selected]
    forgotten: int
    """How many changes the history had forgotten when the selection began."""


@dataclass
class _Txn:
    """The transaction being received."""

    id: str
    at: Any
    """Its place in the log, compared with the watermarks."""
    ts_ms: int | None
    skip: int
    xid: Any = None
    """Its id as the database's snapshots name it (see :class:`Selected`), if it has one."""
    count: int = 0
    held: SourceRow | None = None


class TableCatalog(Protocol):
    """A database type's queries outside its log that the engine itself needs."""

    def problems(self) -> list[str]:
        """Everything that keeps the table from being captured from the log, at once."""
        ...

    def columns(self) -> set[str]:
        """The table's columns."""
        ...

    def window(self, after: Sequence[Any] | None, upto: Sequence[Any], limit: int) -> Selected:
        """Up to ``limit`` rows with keys in (after, upto], in key order, every column, with the
        watermarks around their SELECT (see window.py)."""
        ...

    def bounds(self) -> tuple[list[Any] | None, int]:
        """The table's greatest key now (None when empty) and its row count."""
        ...

    def close(self) -> None:
        """End its session (the next call opens another)."""
        ...


class LogCapture(Source):
    """The engine of a log-based source; a database type implements the abstract methods."""

    follows_log: ClassVar[bool] = True
    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """The driver exceptions that mean the database is away (become SourceUnavailable)."""

    def __init__(self, cfg: LogSettings, columns: list[str], database: str, catalog: TableCatalog) -> None:
        self._cfg = cfg
        self._wanted = columns
        self._tables = catalog
        self._description = {"database": database, "table": cfg.table}
        self._ready: deque[SourceRow] = deque()
        self._txn: _Txn | None = None
        self._chunk: Chunk | None = None
        self._resume: Any = None
        self._skip = 0
        self._snap: Snap | None = None
        self._handed: Position | None = None
        self._saved: Position | None = None
        self._open = False
        self._lost_log = False
        self._beat_at = time.monotonic()
        self._ahead: _Ahead | None = None
        self._recent: deque[tuple[Key, Any, Any]] = deque(maxlen=HISTORY)
        """The changes handed out while a snapshot runs, as (key, place, xid), that a chunk not
        opened yet may not have seen: each chunk checks them when it opens (its SELECT ran
        before some were received, and may have missed some received before it ran), and keeps
        those it did not see for the next."""
        self._forgotten = 0
        """Changes the full history dropped: a chunk selected ahead before one was dropped is
        selected again when it opens."""
        self._selecting: ThreadPoolExecutor | None = None

    def describe(self) -> dict[str, str]:
        return dict(self._description)

    # --- setup ---------------------------------------------------------------------------------
    def problems(self, uses: list[ColumnUse]) -> list[str]:
        with self._available("connect to"):
            found = self._tables.problems()
            if found:
                return found
            missing = sorted(set(self._wanted) - self._tables.columns())
        return [f"source: {self._cfg.table!r} has no column(s) {missing}"] if missing else []

    def setup(self) -> None:
        found = self.problems([])
        if found:
            raise ValueError("; ".join(found))
        with self._available("prepare capture on"):
            self._prepare()

    def _prepare(self) -> None:
        """Create what capture needs in the database (a publication, a slot), once checked."""

    # --- what a database type supplies ----------------------------------------------------------
    @abstractmethod
    def _open_log(self, resume: Any) -> None:
        """Start following the log at ``resume`` (None: where the capture's log begins)."""

    def _log_start(self) -> Any:
        """The resume point of a capture with no position yet, taken before its snapshot's bounds
        (None: the database knows it, as a replication slot does)."""
        return None

    def _log_kept(self, resume: Any) -> bool:
        """Whether the database still has its log from ``resume`` on."""
        return True

    @abstractmethod
    def _close_log(self) -> None:
        """Stop following the log; called before every restart and at close."""

    @abstractmethod
    def _poll(self, timeout_s: float) -> bool:
        """Read and report one message, waiting up to ``timeout_s``; False if none came."""

    @abstractmethod
    def _log_reached(self) -> Any:
        """Where the log stands, as far as everything received says (compared with watermarks)."""

    def _ask_position(self) -> None:
        """Ask the database to say where its log stands now (refreshes :meth:`_log_reached`)."""

    def _release(self, resume: Any, idle_at: Any | None) -> None:
        """Everything before ``resume`` is saved: the database may discard that log; when idle,
        ``idle_at`` is where the log stands, nothing of the table's before it unsaved."""

    def _selector(self) -> TableCatalog | None:
        """A second session on the database, for selecting the next snapshot chunk on a thread
        while the current one is emitted (None: one at a time)."""
        return None

    # --- reports from _poll ---------------------------------------------------------------------
    def _begin(self, txn_id: str, at: Any, ts_ms: int | None, xid: Any = None) -> None:
        """A transaction starts at ``at`` in the log (``xid``: see :class:`Selected`). An open
        chunk whose high watermark it passes is emitted first: the log is in commit order, so
        every change its SELECT saw has been received, and this transaction's come after it."""
        if self._chunk is not None and self._chunk.closes_at(at):
            self._close_chunk()
        self._txn = _Txn(txn_id, at, ts_ms, skip=self._skip, xid=xid)
        self._skip = 0

    def _change(self, op: Op, values: dict[str, Any], before: dict[str, Any] | None, at: Any = None) -> None:
        """A change of the table inside the current transaction (``at``: its own place, if the
        transaction's place is not known yet)."""
        txn = self._txn
        assert txn is not None, "a change outside a transaction"
        if self._snap is not None:
            key, place = key_of(values, self._cfg.key_columns), txn.at if at is None else at
            if len(self._recent) == HISTORY:
                self._forgotten += 1
            self._recent.append((key, place, txn.xid))
            if self._chunk is not None:
                self._chunk.touched(key, place, txn.xid)
        row = SourceRow(
            values=values,
            key={k: values[k] for k in self._cfg.key_columns},
            position=None,
            op=op,
            source_ts_ms=txn.ts_ms,
            before=before,
            transaction=Transaction(txn.id, txn.count + 1),
        )
        self._add(row)

    def _bad(self, reason: str) -> None:
        """Input inside the current transaction that can never be an event (a truncate)."""
        self._add(SourceRow.bad({"table": self._cfg.table}, None, reason))

    def _commit(self, resume: Any, at: Any) -> None:
        """The current transaction ended; the log resumes at ``resume``, which is ``at`` in order."""
        txn, self._txn = self._txn, None
        self._resume = resume
        if txn is not None and txn.held is not None:
            self._ready.append(self._positioned(txn.held, {"log": resume}))
        if self._chunk is not None and self._chunk.closes_at(at):
            self._close_chunk()

    def _add(self, row: SourceRow) -> None:
        """Hold ``row`` as its transaction's latest; release the one held before it."""
        txn = self._txn
        assert txn is not None
        txn.count += 1
        if txn.count <= txn.skip:  # handed out before the restart
            return
        if txn.held is not None:
            self._ready.append(self._positioned(txn.held, {"log": self._resume, "skip": txn.count - 1}))
        txn.held = row

    def _positioned(self, row: SourceRow, position: dict[str, Any]) -> SourceRow:
        """``row`` (held here, not yet handed out) with its position set."""
        if self._snap is not None:
            position["snap"] = dict(self._snap)
        row.position = position
        return row

    # --- reading --------------------------------------------------------------------------------
    def read(self, after: Position | None, limit: int) -> list[SourceRow]:
        with self._available("read the log of"):
            try:
                return self._read(after, limit)
            except self.driver_errors:
                self._stop_log()
                raise

    def _read(self, after: Position | None, limit: int) -> list[SourceRow]:
        if not self._open or after != self._handed:
            self._restart(after)
        out: list[SourceRow] = []
        deadline = time.monotonic() + self._cfg.wait_s
        while len(out) < limit:
            if self._ready:
                out.append(self._ready.popleft())
            elif self._snap is not None and self._chunk is None and self._txn is None:
                self._open_chunk()
            elif self._chunk is not None and self._txn is None and self._chunk.closes_at(self._log_reached()):
                self._close_chunk()
            elif self._poll(0 if out else max(deadline - time.monotonic(), 0)):
                continue
            elif out or time.monotonic() >= deadline:
                break
            elif self._chunk is not None:
                self._ask_position()
        if out:
            self._handed = out[-1].position
        else:
            self._heartbeat()
        return out

    def _restart(self, after: Position | None) -> None:
        """(Re)start the log at ``after``: whatever was received past it is forgotten."""
        self._stop_log()
        self._drop_ahead()
        selector = self._selector()
        if selector is not None:
            selector.close()  # a session the database may have dropped: the next opens afresh
        self._ready.clear()
        self._recent.clear()
        self._txn = self._chunk = None
        position: dict[str, Any] = dict(after) if after is not None else {"log": self._log_start()}
        if after is None and self._cfg.snapshot == "initial":
            position["snap"] = self._snap_start()
        elif after is not None and (self._lost_log or not self._log_kept(position.get("log"))):
            log.warning(
                "source.log_lost",
                table=self._cfg.table,
                position=after,
                note="the log since the saved position is gone: the table is snapshotted again",
            )
            position = {"log": self._log_start(), "snap": self._snap_start()}
        self._lost_log = False
        self._resume = position.get("log")
        self._skip = int(position.get("skip", 0))
        self._snap = position.get("snap")
        self._open_log(self._resume)
        self._open = True
        self._handed = self._saved = after
        log.info("source.log_started", table=self._cfg.table, at=self._resume, skip=self._skip)

    def _stop_log(self) -> None:
        self._open = False
        self._close_log()

    # --- snapshot -------------------------------------------------------------------------------
    def _snap_start(self) -> Snap:
        upto, total = self._tables.bounds()
        log.info("source.snapshot_started", table=self._cfg.table, rows=total)
        return {"key": None, "upto": bookmark.encode(upto) if upto else None, "rows": 0, "total": total}

    def _open_chunk(self) -> None:
        """Select the next chunk between two watermarks; end the snapshot when none is left."""
        snap = self._snap
        assert snap is not None
        if snap["upto"] is None:
            self._end_snapshot()
            return
        ahead, self._ahead = self._ahead, None
        current = (snap["key"], snap["upto"], self._forgotten)
        if ahead is not None and (ahead.after, ahead.upto, ahead.forgotten) == current:
            selected = ahead.selected.result()
        else:
            after = bookmark.decode(snap["key"]) if snap["key"] else None
            selected = self._select(self._tables, after, snap["upto"])
        rows = selected.rows
        if not rows:
            self._end_snapshot()
            return
        keys = self._cfg.key_columns
        chunk = Chunk(
            low=selected.low,
            high=selected.high,
            rows=rows,
            last=[rows[-1][k] for k in keys],
            complete=len(rows) < self._cfg.chunk_size,
            columns=keys,
            unseen=selected.unseen,
        )
        # a change this chunk saw was seen by every later one (their SELECTs run later)
        kept = [change for change in self._recent if chunk.overtakes(change[1], change[2])]
        self._recent.clear()
        self._recent.extend(kept)
        for key, _, _ in kept:
            chunk.overtake(key)
        self._chunk = chunk
        if not chunk.complete:
            self._select_ahead(chunk.last, snap["upto"])

    def _select(self, tables: TableCatalog, after: Sequence[Any] | None, upto: Any) -> Selected:
        """The chunk after ``after``, up to the snapshot's bound ``upto`` (a bookmark)."""
        return tables.window(after, bookmark.decode(upto), self._cfg.chunk_size)

    def _select_ahead(self, after: list[Any], upto: Any) -> None:
        """Start selecting the chunk after ``after`` on the selector's thread (when there is one)."""
        selector = self._selector()
        if selector is None:
            return
        if self._selecting is None:
            self._selecting = ThreadPoolExecutor(1, thread_name_prefix="snapshot-chunk")
        selected = self._selecting.submit(self._select, selector, after, upto)
        self._ahead = _Ahead(bookmark.encode(after), upto, selected, self._forgotten)

    def _drop_ahead(self) -> None:
        """Forget the chunk being selected ahead (the snapshot ended, or the log restarts); returns
        once its selection is over, so its session is free."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not ahead.selected.cancel():
            ahead.selected.exception()  # waits; what it raised no longer matters

    def _close_chunk(self) -> None:
        """The log passed the chunk's high watermark: emit what no change overtook, in key order."""
        chunk, self._chunk = self._chunk, None
        snap = self._snap
        assert chunk is not None and snap is not None
        keys = self._cfg.key_columns
        rows = snap["rows"]
        resume, encode, ready = self._resume, bookmark.encode, self._ready.append
        for values in chunk.remaining():
            rows += 1
            key = [values[k] for k in keys]
            at = {**snap, "key": encode(key), "rows": rows}
            ready(SourceRow(values, dict(zip(keys, key, strict=True)), {"log": resume, "snap": at}))
        self._snap = {**snap, "rows": rows, "key": bookmark.encode(chunk.last)}
        if chunk.complete:
            self._end_snapshot()
            if self._ready and "snap" in self._ready[-1].position:
                self._ready.append(self._positioned(self._ready.pop(), {"log": self._resume}))

    def _end_snapshot(self) -> None:
        self._drop_ahead()
        self._recent.clear()
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

    def _pending(self) -> int:
        snap = self._snap
        return max(snap["total"] - snap["rows"], 0) if snap else 0

    # --- releasing the log ----------------------------------------------------------------------
    def confirm(self, position: Position) -> None:
        self._saved = position
        if self._open and isinstance(position, dict) and position.get("log") is not None:
            try:
                self._release(position["log"], None)
            except self.driver_errors:
                self._stop_log()  # the next read restarts, and says why if it cannot

    def _heartbeat(self) -> None:
        """Idle, and everything handed out saved: now and then tell the database where the log
        stands, so log written for other tables is released."""
        now = time.monotonic()
        if now - self._beat_at < self._cfg.heartbeat_interval_s or not self._open:
            return
        self._beat_at = now
        if self._txn is None and self._chunk is None and not self._ready and self._handed == self._saved:
            self._release(self._resume, self._log_reached())

    @contextmanager
    def _available(self, doing: str) -> Iterator[None]:
        """Turn the driver's errors into SourceUnavailable naming the database."""
        try:
            yield
        except self.driver_errors as exc:
            message = str(exc).strip()
            raise SourceUnavailable(f"cannot {doing} {self._description['database']}: {message}") from exc

    def close(self) -> None:
        self._stop_log()
        self._drop_ahead()
        if self._selecting is not None:
            self._selecting.shutdown(wait=True, cancel_futures=True)
            self._selecting = None
        selector = self._selector()
        if selector is not None:
            selector.close()
