"""A worker of several engine processes, as a Kafka Streams instance runs several stream threads.

Python folds on one core per process, so a worker with ``processes`` > 1 runs that many engine
processes, each its own member of the group with its own consumer and transactional id (the
worker's, suffixed by the member number). The range assignor spreads the partitions over them
as over separate workers, so failover, fencing and exactly-once are the single engine's. Their
stores share the worker's data folder: a partition's store is open in one process at a time, as
an eager rebalance closes it in the old owner before the new owner opens it.

The parent registers the views' schemas, serves ``/metrics`` summed over its children
(prometheus-client's multiprocess mode), restarts a child that exits while the worker runs
(after 1 s doubling to 30 s; back to 1 s after a minute of running), and on SIGTERM stops every
child as a single engine stops: the batch in hand commits and the member leaves the group. A
child whose parent died (SIGKILL) stops the same way. Children are spawned, not forked:
librdkafka's threads do not survive a fork.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

import structlog

from civicbus.core.backoff import Backoff, Stopped
from civicbus.core.signals import stop_on_signals
from civicbus.ops import metrics
from civicbus.ops.logging import configure

from .codec import registered
from .engine.loop import Engine
from .settings import StreamsSettings
from .views.spec import ViewSpec

log = structlog.get_logger(__name__)
_SPAWN = multiprocessing.get_context("spawn")
HEALTHY_S = 60.0
"""A child that ran this long before exiting is restarted after the shortest backoff again."""


def member(settings: StreamsSettings, specs: list[ViewSpec], number: int, level: str) -> None:
    """A child's whole life: register the codecs, run the engine as ``number`` until SIGTERM or
    until the parent is gone. Runs in the spawned process; returns when the engine stopped."""
    configure(level, "streams")
    structlog.contextvars.bind_contextvars(member=number)
    stop = threading.Event()
    stop_on_signals(stop)
    threading.Thread(target=_orphaned, args=(stop, number), name="parent-watch", daemon=True).start()
    try:
        codecs = registered(settings, specs, stop)
    except Stopped:
        return
    Engine(settings, specs, codecs, stop, number).run()


def _orphaned(stop: threading.Event, number: int) -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        if not stop.is_set():  # a thread starts without the main thread's bound context: name the member
            log.warning("streams.parent_gone", member=number, component="streams")
            stop.set()


@dataclass
class _Child:
    process: BaseProcess
    started: float
    waits: Backoff
    due: float | None = None  # when an exited child is to be started again


class ProcessGroup:
    """Runs ``settings.processes`` engine processes until ``stop`` is set (see the module)."""

    def __init__(self, settings: StreamsSettings, specs: list[ViewSpec], stop: threading.Event) -> None:
        self.settings = settings
        self.specs = specs
        self.stop = stop
        self.level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        self.children: dict[int, _Child] = {}

    def run(self) -> None:
        """Start every child, restart those that exit, and stop them all once ``stop`` is set."""
        for number in range(self.settings.processes):
            self.children[number] = _Child(self._start(number), time.monotonic(), Backoff(30.0, 1.0))
        try:
            while not self.stop.is_set():
                running = [c.process.sentinel for c in self.children.values() if c.due is None]
                wait(running, timeout=0.5)
                self._tend()
        finally:
            self._stop_all()

    def _start(self, number: int) -> BaseProcess:
        process = _SPAWN.Process(
            target=member,
            args=(self.settings, self.specs, number, self.level),
            name=f"civicbus-streams-{number}",
        )
        process.start()
        log.info("streams.process_started", member=number, pid=process.pid)
        return process

    def _tend(self) -> None:
        """Note the children that exited and start again those whose backoff is over."""
        now = time.monotonic()
        for number, child in self.children.items():
            if child.due is None and not child.process.is_alive():
                if now - child.started >= HEALTHY_S:
                    child.waits.reset()
                delay = child.waits.next_delay()
                child.due = now + delay
                metrics.STREAMS_PROCESS_RESTARTS.inc()
                log.warning(
                    "streams.process_exited",
                    member=number,
                    exit_code=child.process.exitcode,
                    retry_in_s=delay,
                )
            elif child.due is not None and now >= child.due and not self.stop.is_set():
                child.process, child.started, child.due = self._start(number), now, None

    def _stop_all(self) -> None:
        """SIGTERM every child, then wait for each as long as a commit may take; SIGKILL a child
        still running after that (its transaction is aborted when its successor starts)."""
        live = [c.process for c in self.children.values() if c.process.is_alive()]
        for process in live:
            process.terminate()
        deadline = time.monotonic() + self.settings.transaction_timeout_s + 5
        for process in live:
            process.join(max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                log.warning("streams.process_killed", pid=process.pid)
                process.kill()
                process.join(5)
