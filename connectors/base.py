"""The contract every connector type implements.

A source yields rows in a total order and tells, for each row, the position just AFTER it: a
source built from that position yields the next row and never the same one again. The runner
saves a position only once every event before it is acknowledged by the broker, so a crash
re-reads at most the last unacknowledged batch and never skips a row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["c", "u", "d", "r"]
Position = Any
"""A JSON-serialisable value; opaque to everything but the source that made it."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    values: Mapping[str, Any]
    """Column name → value, as the source database returned it."""
    key: Mapping[str, Any]
    """The row's key columns in the source (for tracing and dead letters)."""
    position: Position
    """Resume point AFTER this row."""
    op: Op = "r"
    source_ts_ms: int | None = None


class Source(ABC):
    """One departmental table (or file, or API) read as an ordered stream of rows.

    Lifecycle: ``setup()`` once (connect, check the table exists: raise with a clear message if
    not), then ``read()`` repeatedly, then ``close()``. ``read`` is called from one thread.
    """

    @abstractmethod
    def setup(self) -> None:
        """Check the source is reachable and shaped as configured; raise ValueError if not."""

    @abstractmethod
    def read(self, after: Position | None, limit: int) -> list[SourceRow]:
        """Up to ``limit`` rows strictly after ``after`` (``None``: from the start), in order.

        Returns quickly: an empty list when nothing is new. Raises the driver's error when the
        source is unavailable; the runner backs off and calls again with the same position.
        """

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """``database`` (without credentials) and ``table`` for the event's ``source`` block."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
