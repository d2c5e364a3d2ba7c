"""The DBLog watermark algorithm: a table snapshot read in chunks between the log's own events.

A chunk is selected between two log positions read from the database, the low watermark around
the SELECT's start and the high one just after it. Every change handed out before the chunk is
emitted that its SELECT did not see drops that key from the chunk: the change carries a newer
state than the chunk's copy. The chunk's remaining rows are emitted, in key order, between two log
transactions once the log has passed the high watermark; whatever follows them is newer than the
SELECT. So a snapshot never overwrites a newer change with an older one, needs no lock and no
write to the database, and runs while the table is being written (Andreadis, Netflix, "DBLog: A
Watermark Based Change-Data-Capture Framework", 2020; Debezium's incremental snapshots follow the
same paper).

Which changes the SELECT did not see: where the database says which transactions its snapshot
saw (PostgreSQL's ``pg_current_snapshot()``), exactly those of the others; else (a binlog) the
changes at or after the low watermark. Log order is not visibility order: a PostgreSQL
transaction is in the WAL before other sessions see it, a binlog event before InnoDB commits it;
so a low watermark read just before a SELECT can stand after a change the SELECT missed. The
binlog source avoids that with a watermark the server ties to its read view (MariaDB's
``Binlog_snapshot_position``).

Positions are whatever the source compares in log order (an LSN, a binlog (file, offset)).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, ...]


def key_of(values: Mapping[str, Any], columns: Sequence[str]) -> Key:
    """A row's key as compared between a chunk and the log (text, so 7 and Decimal('7') agree)."""
    return tuple([str(values[c]) for c in columns])


@dataclass(frozen=True)
class Selected:
    """A chunk as the database returned it, and where its SELECT stood in the log."""

    low: Any
    """No change before this position in the log was missed by the SELECT, unless ``unseen``
    says so."""
    rows: list[dict[str, Any]]
    high: Any
    """Every change the SELECT saw is before this position in the log."""
    unseen: Callable[[Any], bool] | None = None
    """Whether the SELECT did not see the transaction with this id (as :meth:`LogCapture._begin`
    was given it); None where the database cannot say."""


@dataclass
class Chunk:
    """One selected chunk while its window is open."""

    low: Any
    high: Any
    rows: list[dict[str, Any]]
    """The selected rows, in key order."""
    last: list[Any]
    """The key values of the chunk's last selected row: where the next chunk starts."""
    complete: bool
    """The SELECT returned fewer rows than asked: this is the snapshot's last chunk."""
    columns: Sequence[str]
    """The key columns."""
    unseen: Callable[[Any], bool] | None = None
    overtaken: set[Key] = field(default_factory=set)
    """The keys of the chunk's rows that a change handed out before it carries newer."""
    _keys: set[Key] | None = field(default=None, init=False, repr=False)

    def overtakes(self, at: Any, txn: Any) -> bool:
        """Whether a change of the transaction ``txn``, at ``at`` in the log, is newer than this
        chunk's copy of its row."""
        if self.unseen is not None and txn is not None:
            return self.unseen(txn)
        return bool(at >= self.low)

    def touched(self, key: Key, at: Any, txn: Any = None) -> None:
        """A change of ``key`` (see :meth:`overtakes`) is handed out before this chunk."""
        if self.overtakes(at, txn):
            self.overtake(key)

    def overtake(self, key: Key) -> None:
        """Leave the row of ``key`` to a change, if this chunk has it. The rows' keys are made at
        the first call: a chunk of a quiet table is never keyed, and what is kept here is bounded
        by the chunk, however many rows a concurrent transaction changes."""
        if self._keys is None:
            self._keys = {key_of(r, self.columns) for r in self.rows}
        if key in self._keys:
            self.overtaken.add(key)

    def remaining(self) -> list[dict[str, Any]]:
        """The rows no change overtook, in key order."""
        if not self.overtaken:
            return self.rows
        return [r for r in self.rows if key_of(r, self.columns) not in self.overtaken]

    def closes_at(self, position: Any) -> bool:
        """Whether the log, having reached ``position``, is past the high watermark: every change
        the SELECT saw was received before it."""
        return bool(position >= self.high)
