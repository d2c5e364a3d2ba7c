"""How far a connector is behind its source, as operations staff read it.

``lag_s`` is 0 when the last poll found the connector caught up (a quiet table stays at 0, however
old its newest row). While rows are pending it is the newest change time the source holds minus
the newest source time delivered, when the source has change times; otherwise the time since the
connector was last caught up. ``pending`` and ``unplaced`` are the source's own counts, refreshed
by :meth:`Backlog.observed` every health interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import SourceHealth


class Backlog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._caught_up_at = clock()
        self._delivered_ts_ms: int | None = None
        self._newest_ts_ms: int | None = None
        self.pending: int | None = None
        self.unplaced: int | None = None
        self.log_lag_bytes: int | None = None
        self._behind = False

    def polled(self, caught_up: bool, delivered_ts_ms: int | None) -> None:
        """After each poll: whether it read everything there was, and the newest source time sent."""
        if delivered_ts_ms is not None:
            self._delivered_ts_ms = max(self._delivered_ts_ms or 0, delivered_ts_ms)
        if caught_up:
            self._caught_up_at = self._clock()
            self._behind = False
            self.pending = 0 if self.pending is not None else None
        else:
            self._behind = True

    def observed(self, health: SourceHealth) -> None:
        self.pending = health.pending
        self.unplaced = health.unplaced
        self.log_lag_bytes = health.log_lag_bytes
        self._newest_ts_ms = health.newest_ts_ms
        if health.pending == 0:
            self._behind = False
            self._caught_up_at = self._clock()
        elif health.pending:
            self._behind = True

    @property
    def lag_s(self) -> float:
        if not self._behind:
            return 0.0
        if self._newest_ts_ms is not None and self._delivered_ts_ms is not None:
            return max(self._newest_ts_ms - self._delivered_ts_ms, 0) / 1000
        return max(self._clock() - self._caught_up_at, 0.0)
