"""Connector lag as operations staff read it: 0 when caught up, however old the newest row."""

from civicbus.connectors.backlog import Backlog
from civicbus.connectors.base import SourceHealth


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_quiet_table_has_no_lag_however_old_its_rows() -> None:
    backlog = Backlog(Clock())
    backlog.polled(caught_up=True, delivered_ts_ms=1)  # the newest row is from 1970
    backlog.observed(SourceHealth(pending=0, newest_ts_ms=1))
    assert backlog.lag_s == 0.0 and backlog.pending == 0


def test_behind_with_change_times_the_lag_is_the_newest_change_minus_the_newest_delivered() -> None:
    backlog = Backlog(Clock())
    backlog.polled(caught_up=False, delivered_ts_ms=50_000)
    backlog.observed(SourceHealth(pending=1200, newest_ts_ms=80_000))
    assert backlog.lag_s == 30.0 and backlog.pending == 1200
    backlog.polled(caught_up=True, delivered_ts_ms=80_000)
    assert backlog.lag_s == 0.0


def test_behind_without_change_times_the_lag_is_the_time_since_last_caught_up() -> None:
    clock = Clock()
    backlog = Backlog(clock)
    backlog.polled(caught_up=True, delivered_ts_ms=None)
    clock.t += 5
    backlog.polled(caught_up=False, delivered_ts_ms=None)
    clock.t += 40
    assert backlog.lag_s == 45.0
