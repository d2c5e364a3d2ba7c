"""The one way a long-running process turns SIGTERM and SIGINT into its stop event."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog

log = structlog.get_logger(__name__)


def stop_on_signals(stop: threading.Event, event: str | None = None) -> None:
    """From now on SIGTERM and SIGINT set ``stop``, logged as ``event`` (with the signal's name)
    when given. Call it from the main thread: Python installs handlers only there."""

    def on_signal(signum: int, _: FrameType | None) -> None:
        if event is not None:
            log.info(event, signal=signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
