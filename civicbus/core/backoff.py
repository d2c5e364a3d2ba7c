"""The one backoff helper: exponential waits that end at once when a stop event is set.

Every wait for something that is away (a broker, a database, the registry, a crashed connector's
restart) goes through :class:`Backoff`, so they all start at ``first_s``, double up to ``cap_s``,
log the same way and obey SIGTERM within one event check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")


class Stopped(Exception):
    """The stop event was set while waiting; the waiter should wind down."""


class Backoff:
    """Exponential waits (``first_s`` doubling to ``cap_s``), back to ``first_s`` after :meth:`reset`.

    ``first_s`` defaults to 0.5 s, or ``cap_s`` if that is shorter. Not thread-safe: one per loop.
    """

    def __init__(self, cap_s: float = 10.0, first_s: float | None = None) -> None:
        first_s = min(0.5, cap_s) if first_s is None else first_s
        if first_s <= 0 or cap_s < first_s:
            raise ValueError(f"backoff needs 0 < first_s <= cap_s, got {first_s} and {cap_s}")
        self._first = first_s
        self._cap = cap_s
        self._next = first_s
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay the next :meth:`wait` will take, and advance past it."""
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        self.attempts += 1
        return delay

    def wait(self, stop: threading.Event) -> float:
        """Sleep the next delay, or less if ``stop`` is set meanwhile; returns the planned delay."""
        delay = self.next_delay()
        stop.wait(delay)
        return delay

    def reset(self) -> None:
        self._next = self._first
        self.attempts = 0


def retry(
    call: Callable[[], T],
    what: str,
    retry_on: tuple[type[BaseException], ...],
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
    event: str = "unavailable",
) -> T:
    """``call()`` until it returns, waiting with backoff after each ``retry_on`` error.

    Each failure is logged as ``event`` with ``what``, the attempt, the wait and the error. Raises
    :class:`Stopped` once ``stop`` is set; any other error propagates at once.
    """
    stopping = stop or threading.Event()
    waits = backoff or Backoff()
    while True:
        try:
            return call()
        except retry_on as exc:
            if stopping.is_set():
                raise Stopped(what) from None
            delay = waits.next_delay()
            log.warning(event, what=what, attempt=waits.attempts, retry_in_s=delay, error=str(exc))
            if stopping.wait(delay):
                raise Stopped(what) from None
