"""Run many connectors in one process, and pick up new connector files while running.

``run FILE...``: every file must be valid at start; if one connector fails, the others are
stopped cleanly and the process exits non-zero (an operator's supervisor restarts it).
``run --watch DIR``: every ``*.yaml`` in DIR is started, and so is each file added later (or
changed after it was found invalid), without a restart: a new departmental table is one YAML
file. An invalid file is logged with every problem and does not stop the others; nor does a
connector that fails: it is logged and started again when its file changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import structlog

from .config import ConnectorSettings
from .runner import Connector
from .validate import validate

log = structlog.get_logger(__name__)
Build = Callable[[Path], Connector]


class Supervisor:
    def __init__(self, settings: ConnectorSettings, build: Build) -> None:
        self._settings = settings
        self._build = build
        self.stop = threading.Event()
        self._threads: dict[Path, threading.Thread] = {}
        self._seen: dict[Path, float] = {}
        self.failed: list[Path] = []

    def start(self, path: Path) -> None:
        connector = self._build(path)

        def run() -> None:
            try:
                connector.run(self.stop)
            except Exception as exc:
                log.exception("connector.crashed", file=str(path), error=str(exc))
                self.failed.append(path)

        thread = threading.Thread(target=run, name=f"connector:{path.name}", daemon=True)
        self._threads[path] = thread
        thread.start()
        log.info("connector.file_started", file=str(path))

    def scan(self, folder: Path) -> None:
        """Start every new or changed, valid connector file in ``folder``."""
        for path in sorted(folder.glob("*.yaml")):
            mtime = path.stat().st_mtime
            running = path in self._threads and self._threads[path].is_alive()
            if running or self._seen.get(path) == mtime:
                continue
            self._seen[path] = mtime
            problems = validate(path)
            if problems:
                log.error("connector.invalid", file=str(path), problems=problems)
                continue
            self.start(path)

    def watch(self, folder: Path, interval_s: float = 2.0) -> None:
        while not self.stop.is_set():
            self.scan(folder)
            self.stop.wait(interval_s)
        self.join()

    def run_fixed(self) -> bool:
        """Wait for the started connectors; True unless one failed (then the rest are stopped)."""
        while any(t.is_alive() for t in self._threads.values()):
            for t in list(self._threads.values()):
                t.join(timeout=0.5)
            if self.failed and not self.stop.is_set():
                self.stop.set()
        return not self.failed

    def join(self) -> None:
        for t in self._threads.values():
            t.join()
