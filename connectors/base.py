"""The contract every connector type implements: :class:`Source`.

A source yields rows in a total order and tells, for each row, the position just AFTER it: a
source built from that position yields the next row and never the same one again. The runner
saves a position only once every event before it is acknowledged by the broker, so a crash
re-reads at most the last unacknowledged batch and never skips a row.

A source speaks of failure in two ways only, never with a driver's exception:
- :class:`SourceUnavailable`: the system is away (database down, folder unmounted, file locked).
  The runner backs off and calls again with the same position; nothing is lost or skipped.
- a :class:`SourceRow` with ``error`` set: this piece of input is bad and will stay bad (a file
  that is not a spreadsheet, a header without the mapped columns). The runner dead-letters it
  with the reason and the source's key (the file, the row), and carries on after its position.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The row types live in rows.py (an encode worker imports them without pydantic); here for sources.
from .rows import Op as Op
from .rows import Position as Position
from .rows import SourceRow as SourceRow
from .rows import Transaction as Transaction


class SourceUnavailable(Exception):
    """The source cannot be read now; the same call with the same position may succeed later.

    Raise it from the driver's error (``raise SourceUnavailable(...) from exc``) with a message
    that names the system but no credentials: it is logged and counted, then retried.
    """


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """What a source can tell about the work ahead of a position (each None if it cannot)."""

    pending: int | None = None
    """Rows after the position not yet read."""
    unplaced: int | None = None
    """Rows the capture can never place in its order (a NULL ordering value): reported, never
    silently skipped."""
    newest_ts_ms: int | None = None
    """The newest change time the source holds, epoch ms."""
    log_lag_bytes: int | None = None
    """Change log the database keeps for this capture and it has not yet confirmed (a
    replication slot's lag): it grows without bound while the connector is away."""


@dataclass(frozen=True, slots=True)
class ColumnUse:
    """How the mapping uses one source column, for :meth:`Source.problems` to check types."""

    field: str
    """The canonical field it fills."""
    column: str
    avro_type: Any
    """The field's Avro type (JSON form)."""
    converted: bool
    """A code table or transform stands between column and field (any column type may do)."""


class SourceSettings(BaseModel):
    """The ``source:`` section every connector type shares; a type's settings model extends it.

    Validated when the connector file loads, with the bad field named (``source.folder: …``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field("sql", description="the source type: an entry point in civicbus.sources")
    timezone: str = Field("Asia/Shanghai", description="zone of timestamps stored without one")
    max_rows_per_s: float | None = Field(None, gt=0, description="cap on rows read per second")
    reconcile_interval_s: float | None = Field(
        None, gt=0, description="find hard deletes this often by comparing keys (needs Source.keys)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Source(ABC):
    """One departmental table (or file, or API) read as an ordered stream of rows.

    A new connector type is one subclass, registered as an entry point in the group
    ``civicbus.sources`` (``spreadsheet = "civicbus.connectors.spreadsheet.source:SpreadsheetSource"``).
    It names its ``settings_model`` (a :class:`SourceSettings` subclass whose ``type`` is the entry
    point's name) and is built as ``cls(settings, columns)``, ``columns`` being the source columns
    the mapping reads; building it connects to nothing. Lifecycle: ``setup()`` once, then
    ``read()`` repeatedly, then ``close()``, all from one thread. tests/connector_suite.py is the
    standard suite every type must pass.
    """

    settings_model: ClassVar[type[SourceSettings]]
    follows_log: ClassVar[bool] = False
    """True when :meth:`read` itself waits (briefly, ``wait_s``) for new changes: the engine then
    does not sleep between polls, so a change travels as soon as the log has it."""

    @abstractmethod
    def __init__(self, settings: Any, columns: list[str]) -> None: ...

    @abstractmethod
    def setup(self) -> None:
        """Connect and check the source is shaped as configured.

        Raises :class:`SourceUnavailable` when it cannot be reached (retried with backoff) and
        ValueError, with a message naming the setting, when it is not as configured (the
        connector stops: a person must change the file or the source).
        """

    def problems(self, uses: list[ColumnUse]) -> list[str]:
        """Every problem ``civicbus connectors validate`` should report for this source, at once.

        Called instead of ``setup()`` (then ``close()``), with how the mapping uses each column;
        the default reports what ``setup()`` raises. A type with more to say (the SQL type
        checks that each column's type can become its field's) overrides it.
        """
        try:
            self.setup()
        except (ValueError, SourceUnavailable) as exc:
            return [str(exc)]
        return []

    @abstractmethod
    def read(self, after: Position | None, limit: int) -> list[SourceRow]:
        """Up to ``limit`` rows strictly after ``after`` (``None``: from the start), in order.

        Each row's ``position`` resumes after it; a row before the last of a batch may carry a
        coarser position (resuming there may re-send rows) but never one ahead of itself.
        Returns quickly: an empty list when nothing is new. Raises :class:`SourceUnavailable`
        when the source is away; bad input comes back as rows with ``error`` set.
        """

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """``database`` (without credentials) and ``table`` for the event's ``source`` block."""

    def keys(self) -> Iterator[Mapping[str, Any]]:
        """Every key the source holds now, for finding hard deletes; optional.

        Raises :class:`SourceUnavailable` (possibly part-way) when the source is away."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its keys")

    def health(self, after: Position | None) -> SourceHealth | None:
        """Backlog facts for the metrics (rows pending, unplaced rows, newest change); optional.

        Called now and then (not per batch) with the saved position; may run a counting query.
        Raises SourceUnavailable when the source is away."""
        return None

    def progress(self) -> tuple[int, int] | None:
        """(rows done, rows in all) while a bounded pass such as a snapshot runs; None otherwise."""
        return None

    def confirm(self, position: Position) -> None:  # noqa: B027 - optional hook
        """Every row up to ``position`` is delivered and the position saved: a log-based source
        may let its database discard the log before it. Called after each save, from the
        engine's thread; never with a position the source did not hand out."""

    def resnapshot(self) -> bool:
        """Read the whole table again, between the changes that keep flowing (a signal asked for
        it); False if this type cannot. The snapshot's progress travels in the positions, so a
        restart resumes it."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
