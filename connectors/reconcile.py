"""Hard deletes, found by reconciling keys: rows gone from the source become delete events.

Query-based capture cannot see a row that was deleted. With ``reconcile_interval_s`` set, the
connector keeps an index of what it delivered: a compacted topic keyed by the row's source key,
holding the last event it produced for that row (and a null once the row is deleted). Every
interval, when no batch is in flight, :meth:`Reconciler.deleted` compares that index with the keys
the source has now. Both sides go through a temporary SQLite file on disk, so memory stays flat
whatever the table's size. Each key in the index but not in the source yields its last event,
whose ``after`` becomes the delete event's ``before``.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .delivery import Ack, Producer
from .positions import Reader


def source_key(key: Mapping[str, Any]) -> bytes:
    """The index key of a row: its key columns as canonical JSON."""
    return json.dumps({k: str(v) for k, v in key.items()}, sort_keys=True, ensure_ascii=False).encode()


class Reconciler:
    def __init__(
        self,
        producer: Producer,
        topic: str,
        read: Reader,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self._producer = producer
        self._read = read
        self._interval = interval_s
        self._clock = clock
        self._last = clock()

    def remember(self, key: Mapping[str, Any], event: bytes) -> Ack:
        """Record the last event of a delivered row (sent with the batch it belongs to)."""
        return self._producer.send(self.topic, key=source_key(key), value=event)

    def forget(self, index_key: bytes) -> Ack:
        return self._producer.send(self.topic, key=index_key, value=None)

    def due(self) -> bool:
        return self._clock() - self._last >= self._interval

    def deleted(self, current_keys: Iterator[Mapping[str, Any]]) -> list[tuple[bytes, bytes]]:
        """(index key, last event) of every delivered row whose key the source no longer has."""
        self._last = self._clock()
        with tempfile.TemporaryDirectory() as tmp:
            db = sqlite3.connect(Path(tmp) / "reconcile.db")
            try:
                db.execute("CREATE TABLE known (k BLOB PRIMARY KEY, event BLOB)")
                db.execute("CREATE TABLE present (k BLOB PRIMARY KEY)")
                for key, value in self._read(self.topic):
                    if key is None:
                        continue
                    if value is None:
                        db.execute("DELETE FROM known WHERE k = ?", (key,))
                    else:
                        db.execute("INSERT OR REPLACE INTO known VALUES (?, ?)", (key, value))
                db.executemany(
                    "INSERT OR IGNORE INTO present VALUES (?)", ((source_key(k),) for k in current_keys)
                )
                rows = db.execute(
                    "SELECT k, event FROM known"
                    " WHERE NOT EXISTS (SELECT 1 FROM present p WHERE p.k = known.k)"
                ).fetchall()
            finally:
                db.close()
        return [(bytes(k), bytes(e)) for k, e in rows]
