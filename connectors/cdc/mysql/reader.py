"""The binlog, read on a thread of its own as a replica would, into a queue of plain messages.

python-mysql-replication's reader blocks until the server sends something; the server is asked
for a heartbeat every ``heartbeat_s`` so a quiet binlog still reports where it stands. The thread
turns each event into a tuple the source consumes with a timeout:

- ``("begin", id, point, ts_ms)``: a transaction starts (its GTID where the server has one);
- ``("row", op, values, before, point)``: a change of the table;
- ``("commit", [file, offset], point)``: a transaction ended; the binlog resumes there;
- ``("truncate", point)``: the table was truncated;
- ``("reached", point)``: nothing new; the binlog stands at ``point``;
- ``("error", exception)``: the reader stopped (the database went away).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    HeartbeatLogEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from .catalog import point

Message = tuple[Any, ...]
EVENTS = [
    MariadbGtidEvent,
    GtidEvent,
    QueryEvent,
    XidEvent,
    WriteRowsEvent,
    UpdateRowsEvent,
    DeleteRowsEvent,
    RotateEvent,
    HeartbeatLogEvent,
]


class BinlogReader:
    """A started reader thread; :meth:`close` stops it."""

    def __init__(
        self,
        connection: dict[str, Any],
        server_id: int,
        schema: str,
        table: str,
        start: tuple[str, int],
        heartbeat_s: float,
    ) -> None:
        self._schema, self._table = schema, table
        self._stream = BinLogStreamReader(
            connection_settings=connection,
            server_id=server_id,
            blocking=True,
            resume_stream=True,
            log_file=start[0],
            log_pos=start[1],
            only_events=EVENTS,
            only_tables=[table],
            only_schemas=[schema],
            slave_heartbeat=heartbeat_s,
            enable_logging=False,
        )
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=20_000)
        self._stopping = threading.Event()
        self._open = False
        self._thread = threading.Thread(target=self._run, name=f"binlog-{table}", daemon=True)
        self._thread.start()

    def next(self, timeout_s: float) -> Message | None:
        try:
            return self._queue.get(timeout=timeout_s) if timeout_s > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _put(self, message: Message) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(message, timeout=0.2)
                return
            except queue.Full:
                continue

    def _at(self) -> tuple[int, int]:
        return point(self._stream.log_file, self._stream.log_pos)

    def _run(self) -> None:
        try:
            for event in self._stream:
                if self._stopping.is_set():
                    return
                self._on(event)
        except Exception as exc:
            if not self._stopping.is_set():
                self._put(("error", exc))

    def _on(self, event: Any) -> None:
        if isinstance(event, MariadbGtidEvent | GtidEvent):
            self._open = True
            self._put(("begin", str(event.gtid), self._at(), int(event.timestamp) * 1000))
        elif isinstance(event, XidEvent):
            self._end()
        elif isinstance(event, QueryEvent):
            self._query(event)
        elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
            if not self._open:  # a server without GTIDs that logged no BEGIN: one event, one unit
                self._begin(event)
            at = self._at()
            for row in event.rows:
                if isinstance(event, WriteRowsEvent):
                    self._put(("row", "c", row["values"], None, at))
                elif isinstance(event, UpdateRowsEvent):
                    self._put(("row", "u", row["after_values"], row["before_values"], at))
                else:
                    self._put(("row", "d", row["values"], row["values"], at))
        elif isinstance(event, HeartbeatLogEvent) and not self._open:
            self._put(("reached", self._at()))

    def _query(self, event: QueryEvent) -> None:
        text = (event.query or "").strip().upper()
        if text == "BEGIN":
            if not self._open:
                self._begin(event)
            return
        schema = event.schema.decode() if isinstance(event.schema, bytes) else str(event.schema or "")
        if (
            text.startswith("TRUNCATE")
            and self._table.upper() in text
            and schema.lower() == self._schema.lower()
        ):
            if not self._open:  # a statement of its own, without a GTID or BEGIN: one unit
                self._begin(event)
            self._put(("truncate", self._at()))
        if self._open:  # COMMIT, or a statement that is its own transaction (DDL)
            self._end()

    def _begin(self, event: Any) -> None:
        """A transaction without a GTID: named by where it starts."""
        self._open = True
        name = f"{self._stream.log_file}:{self._stream.log_pos}"
        self._put(("begin", name, self._at(), int(event.timestamp) * 1000))

    def _end(self) -> None:
        self._open = False
        self._put(("commit", [self._stream.log_file, self._stream.log_pos], self._at()))

    def close(self) -> None:
        self._stopping.set()
        with contextlib.suppress(Exception):  # closing a connection the server already dropped
            self._stream.close()
        self._thread.join(timeout=5)
