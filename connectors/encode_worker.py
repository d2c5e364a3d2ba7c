"""The process a connector hands part of each large batch to, for mapping and Avro encoding.

Started by encode_pool.py as ``python -m civicbus.connectors.encode_worker FD``, FD being its
end of a socket pair. The first message is an :class:`~.events.EventSpec`; the worker builds
the connector's :class:`~.events.EventBuilder` from it and answers ``"ready"`` (or
``("failed", reason)``). Then each message is a list of rows in :func:`wire_row` form (the
values of the columns the mapping reads), answered with one outcome per row in order:
``(key, value)`` bytes for an event, ``(field, reason)`` text for a row that cannot be one.
Batches are answered in the order they came. A thread of its own takes them off the socket as
they come, so the connector can send the next batch while this one is encoded without either
side blocking the other on a full socket. It exits when the connector closes its end (or
dies): it never outlives the connector. It imports no settings, registry, database or Kafka
library (a unit test checks) and touches nothing but its socket.
"""

from __future__ import annotations

import pickle
import signal
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from queue import SimpleQueue
from typing import Any

from civicbus.core import heap

from .events import EventBuilder, Rejected
from .rows import SourceRow

WireRow = tuple[Any, ...]
Outcome = tuple[bytes, bytes] | tuple[str, str]


def wire_row(row: SourceRow, columns: Sequence[str]) -> WireRow:
    """A row as plain tuples, with only the ``columns`` its mapping reads (what pickles fastest), in
    the order :meth:`~.events.EventBuilder.event_of_values` takes its fields."""
    txn = row.transaction
    before = row.before
    return (
        tuple(map(row.values.get, columns)),
        row.key,
        row.op,
        row.position,
        row.source_ts_ms,
        None if before is None else tuple(map(before.get, columns)),
        row.error,
        None if txn is None else (txn.id, txn.order),
    )


def encode_all(builder: EventBuilder, rows: list[WireRow]) -> list[Outcome]:
    """Each row's outcome, as EventBuilder.events gives it for the rows :func:`wire_row` sent."""
    event = builder.event_of_values
    out: list[Outcome] = []
    for row in rows:
        try:
            made = event(*row)
        except Rejected as exc:
            out.append((exc.field, exc.reason))
            continue
        out.append((made.key, made.value))
    return out


def serve(conn: Connection) -> None:
    """Answer batches on ``conn`` until the connector closes it."""
    try:
        spec = conn.recv()
        builder = spec.builder()
    except EOFError:
        return
    except Exception as exc:  # a spec this process cannot build: the connector encodes alone
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    heap.settle(arenas=1)  # its second thread only takes bytes off the socket
    conn.send("ready")
    batches: SimpleQueue[bytes | None] = SimpleQueue()
    threading.Thread(target=_receive, args=(conn, batches), name="receive", daemon=True).start()
    while (batch := batches.get()) is not None:
        try:
            conn.send(encode_all(builder, pickle.loads(batch)))
        except OSError:
            return


def _receive(conn: Connection, batches: SimpleQueue[bytes | None]) -> None:
    """Queue each batch as it comes (still pickled); None once the connector closed its end."""
    try:
        while True:
            batches.put(conn.recv_bytes())
    except (EOFError, OSError):
        batches.put(None)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the connector decides when this process ends
    serve(Connection(int(sys.argv[1])))


if __name__ == "__main__":
    main()
