"""What a source hands the runner: a row with its position, operation and transaction.

Kept apart from base.py's settings models so that an encode worker, which only turns rows into
events, imports no pydantic (and no database or Kafka library).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["c", "u", "d", "r"]
Position = Any
"""A JSON-serialisable value; opaque to everything but the source that made it."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """Where a change sits in its source transaction: consumers see a transaction's boundaries
    where ``id`` changes, and ``order`` counts its changes to this table from 1."""

    id: str
    order: int


@dataclass(slots=True)
class SourceRow:
    """One row a source read, with the position after it. Not frozen (a frozen dataclass's
    ``__init__`` costs a snapshot about 2 µs a row), but nothing changes a row handed out."""

    values: Mapping[str, Any]
    """Column name → value, as the source database returned it."""
    key: Mapping[str, Any]
    """The row's key columns in the source (for tracing and dead letters)."""
    position: Position
    """Resume point AFTER this row."""
    op: Op = "r"
    source_ts_ms: int | None = None
    error: str | None = None
    """Set for input that can never become an event: the reason it is dead-lettered with."""
    before: Mapping[str, Any] | None = None
    """The row before an update or delete, where the source knows it (a log with full images)."""
    transaction: Transaction | None = None
    """The source transaction the change belongs to (log-based sources)."""

    @classmethod
    def bad(cls, key: Mapping[str, Any], position: Position, reason: str) -> SourceRow:
        """A piece of bad input (its key names it, e.g. the file) to dead-letter with ``reason``."""
        return cls(values={}, key=key, position=position, error=reason)
