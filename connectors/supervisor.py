"""Run many connectors in one process; restart one that crashes; pick up new connector files.

Each connector runs in its own thread under a supervision loop: if it crashes (a bug, a table
changed under it), the crash is logged and counted, and the connector is loaded again from its
file and restarted after a backoff (1 s doubling to ``max_backoff_s``, reset after a run that
lasted ``healthy_s``). One connector's trouble never stops the others. With a watched folder,
every ``*.yaml`` there is started, and so is each file added later or fixed after it was found
invalid; an invalid file is logged with every problem and waits for its next change. A
connector fenced by a newer instance of itself (the same transactional id, in another process)
is not restarted: two instances would fence each other in turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from civicbus.core.backoff import Backoff
from civicbus.ops import metrics

from .delivery import Fenced
from .plan import Plan, PlanError, load_plan

log = structlog.get_logger(__name__)
RunPlan = Callable[[Plan, threading.Event], None]
"""Runs one connector until the event is set (``wiring.run`` with its settings bound)."""
LoadPlan = Callable[[Path], Plan]


class Supervisor:
    def __init__(
        self,
        run: RunPlan,
        load: LoadPlan = load_plan,
        max_backoff_s: float = 60.0,
        healthy_s: float = 60.0,
    ) -> None:
        self._run = run
        self._load = load
        self._max_backoff = max_backoff_s
        self._healthy = healthy_s
        self.stop = threading.Event()
        self._threads: dict[Path, threading.Thread] = {}
        self._seen: dict[Path, float] = {}
        self.restarts: dict[Path, int] = {}
        self.fenced: list[Path] = []

    def start(self, path: Path, plan: Plan) -> None:
        """Run ``plan`` (loaded from ``path``) under supervision in a thread of its own."""
        thread = threading.Thread(
            target=self._supervise, args=(path, plan), name=f"connector:{path.name}", daemon=True
        )
        self._threads[path] = thread
        thread.start()
        log.info("connector.file_started", file=str(path), connector=plan.cfg.name)

    def _supervise(self, path: Path, plan: Plan | None) -> None:
        backoff = Backoff(cap_s=self._max_backoff, first_s=min(1.0, self._max_backoff))
        name = plan.cfg.name if plan else path.stem
        while not self.stop.is_set():
            if plan is not None:
                started = time.monotonic()
                try:
                    self._run(plan, self.stop)
                    if self.stop.is_set():
                        return
                    log.error("connector.ended", file=str(path), connector=name, reason="returned unasked")
                except Fenced as exc:  # a newer instance of this connector runs: restarting would fence it
                    log.error("connector.fenced", file=str(path), connector=name, error=str(exc))
                    self.fenced.append(path)
                    return
                except Exception as exc:
                    log.exception("connector.crashed", file=str(path), connector=name, error=str(exc))
                if time.monotonic() - started >= self._healthy:
                    backoff.reset()
            delay = backoff.wait(self.stop)
            if self.stop.is_set():
                return
            self.restarts[path] = self.restarts.get(path, 0) + 1
            metrics.CONNECTOR_RESTARTS.labels(name).inc()
            try:
                plan = self._load(path)  # the file may have been fixed meanwhile
                name = plan.cfg.name
                log.info("connector.restarting", file=str(path), connector=name, after_s=delay)
            except PlanError as exc:
                plan = None
                log.error("connector.invalid", file=str(path), problems=exc.problems)

    def scan(self, folder: Path) -> None:
        """Start every new, or changed and not running, valid connector file in ``folder``."""
        for path in sorted(folder.glob("*.yaml")):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue  # removed since the listing
            running = path in self._threads and self._threads[path].is_alive()
            if running or self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            try:
                plan = self._load(path)
            except PlanError as exc:
                log.error("connector.invalid", file=str(path), problems=exc.problems)
                continue
            self.start(path, plan)

    def watch(self, folder: Path, interval_s: float = 2.0) -> None:
        """Scan ``folder`` every ``interval_s`` until stopped, then wait for every connector."""
        while not self.stop.is_set():
            self.scan(folder)
            self.stop.wait(interval_s)
        self.join()

    def wait(self) -> bool:
        """Block until stopped (True), or until no connector is left running (False: each one
        was fenced by another instance of itself), then until every connector has wound down."""
        while not self.stop.wait(0.5):
            if self._threads and not any(t.is_alive() for t in self._threads.values()):
                break
        self.join()
        return self.stop.is_set()

    def join(self) -> None:
        for thread in list(self._threads.values()):
            thread.join()
