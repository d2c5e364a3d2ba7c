"""The DBLog watermark algorithm: a table snapshot read in chunks between the log's own events.

A chunk is selected between two log positions read from the database, the low watermark just
before the SELECT and the high one just after it. While the log is followed from the low
watermark to the high one, every key an event touches is dropped from the chunk: the event
carries that row's state as of a point at or after the SELECT, so the chunk's copy could only
be older. When the log reaches the high watermark the chunk's remaining rows are emitted, in key
order, between two log transactions. So a snapshot never overwrites a newer change with an older
one, needs no lock and no write to the database, and runs while the table is being written
(Andreadis, Netflix, "DBLog: A Watermark Based Change-Data-Capture Framework", 2020; Debezium's
incremental snapshots follow the same paper).

Positions are whatever the source compares in log order (an LSN, a binlog (file, offset)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, ...]


def key_of(values: Mapping[str, Any], columns: Sequence[str]) -> Key:
    """A row's key as compared between a chunk and the log (text, so 7 and Decimal('7') agree)."""
    return tuple([str(values[c]) for c in columns])


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
    overtaken: set[Key] = field(default_factory=set)
    """The keys log events changed inside the window (the chunk's or not)."""

    def touched(self, key: Key, at: Any) -> None:
        """A log event of the transaction committed at ``at`` changed ``key``."""
        if self.low <= at <= self.high:
            self.overtaken.add(key)

    def remaining(self, columns: Sequence[str]) -> list[dict[str, Any]]:
        """The rows no change inside the window overtook, in key order. The rows' keys are made
        only when some change came: a chunk of a quiet table is emitted as selected."""
        if not self.overtaken:
            return self.rows
        return [r for r in self.rows if key_of(r, columns) not in self.overtaken]

    def closes_at(self, position: Any) -> bool:
        """Whether the log, having reached ``position``, is past the high watermark."""
        return bool(position >= self.high)
