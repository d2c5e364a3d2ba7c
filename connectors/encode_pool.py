"""Mapping and Avro encoding of large batches spread over worker processes.

A connector's per-row CPU is mostly mapping and encoding (bench/connector.py), and one Python
process uses one core. :class:`EncodePool` is an :class:`~.events.Events` that hands the front
of each batch of at least ``min_split`` rows to its worker processes (encode_worker.py) when it
is submitted, and encodes the rest itself when its result is taken. Up to ``depth`` batches may
be open at once, so the engine can hand a worker its next batch before it takes the answer to
the last: a worker then starts on it at once instead of waiting while the engine produces and
commits. Smaller batches (live changes) are encoded here and pay no round trip. The share kept
here moves toward where a worker's answer is ready just when this process has done its share.

Guarantees: the outcomes are exactly those :meth:`EventBuilder.events` gives, in the rows'
order. Results are taken in the order batches were submitted; a batch submitted before the one
whose result is taken and never taken itself is abandoned (its answers are read and dropped).
A worker that is not ready yet, does not answer within ``answer_timeout_s``, or dies is never
waited for: the rows it held, in every open batch, are encoded here, it is stopped and logged
(``encode.worker_lost``, counted in ``civicbus_connector_errors_total{stage="encode"}``), and a
new one is started ``restart_after_s`` later. Workers exit when the connector closes the pool
or dies (they read their end of a socket pair).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import structlog

from civicbus.ops import metrics

from .base import SourceRow
from .encode_worker import Outcome, wire_row
from .events import Deferred, Encoding, Event, EventSpec, Rejected

log = structlog.get_logger(__name__)


class _Worker:
    """One worker process, started on demand; every method returns rather than raises."""

    def __init__(self, spec: EventSpec, columns: list[str], connector: str, restart_after_s: float) -> None:
        self._spec = spec
        self._columns = columns
        self._connector = connector
        self._restart_after_s = restart_after_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._start_at = 0.0
        self._tickets = 0
        self._unanswered: deque[int] = deque()
        """Tickets of the batches sent and not answered yet, oldest first."""

    def ready(self) -> bool:
        """Whether it takes work now; starts it (without waiting) when it is not running."""
        if self._ready:
            return True
        if self._proc is None:
            if time.monotonic() >= self._start_at:
                self._start()
            return False
        assert self._conn is not None
        try:
            if not self._conn.poll():
                if self._proc.poll() is not None:
                    self.lost(f"exited with {self._proc.returncode} while starting")
                return False
            answer = self._conn.recv()
        except (EOFError, OSError) as exc:
            self.lost(f"exited while starting: {exc}")
            return False
        if answer != "ready":
            self.lost(f"could not start: {answer}")
            return False
        self._ready = True
        log.info("encode.worker_ready", connector=self._connector, pid=self._proc.pid)
        return True

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "civicbus.connectors.encode_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
            self._conn = Connection(ours.detach())
            self._conn.send(self._spec)
        except Exception as exc:
            ours.close()
            self.lost(f"could not start: {exc}")
        finally:
            theirs.close()

    def send(self, rows: Sequence[SourceRow]) -> int | None:
        """Send a batch; its ticket for :meth:`result`, or None when the worker was lost instead."""
        assert self._conn is not None
        try:
            columns = self._columns
            self._conn.send([wire_row(r, columns) for r in rows])
        except (OSError, ValueError) as exc:
            self.lost(f"did not take a batch: {exc}")
            return None
        self._tickets += 1
        self._unanswered.append(self._tickets)
        return self._tickets

    def answered(self) -> bool:
        """Whether an answer (to the oldest batch unanswered) is waiting to be read."""
        try:
            return self._conn is not None and self._conn.poll()
        except OSError:
            return True  # result() finds out what happened

    def result(self, ticket: int, timeout_s: float) -> list[Outcome] | None:
        """The answer to the batch sent with ``ticket``; None when the worker was lost since (or
        is lost now, not answering within ``timeout_s``). Answers to batches sent before it
        that nobody took are read and dropped."""
        while ticket in self._unanswered:
            assert self._conn is not None
            try:
                if not self._conn.poll(timeout_s):
                    self.lost(f"did not answer within {timeout_s:.0f} s")
                    return None
                answer: list[Outcome] = self._conn.recv()
            except (EOFError, OSError) as exc:
                self.lost(f"exited: {exc or 'connection closed'}")
                return None
            if self._unanswered.popleft() == ticket:
                return answer
        return None

    def lost(self, reason: str) -> None:
        log.warning(
            "encode.worker_lost",
            connector=self._connector,
            reason=reason,
            restart_in_s=self._restart_after_s,
        )
        metrics.CONNECTOR_ERRORS.labels(self._connector, "encode").inc()
        self.stop()
        self._start_at = time.monotonic() + self._restart_after_s

    def stop(self) -> None:
        self._ready = False
        self._unanswered.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)  # it exits when its socket closes
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


_Parts = list[tuple[_Worker, int | None, Sequence[SourceRow]]]
"""The parts of a batch sent to workers: the worker, its ticket (None: it failed to take its
part), the rows."""


class EncodePool:
    """Encodes like ``spec.builder()``, large batches shared with ``workers`` processes."""

    def __init__(
        self,
        spec: EventSpec,
        workers: int,
        connector: str,
        min_split: int = 256,
        answer_timeout_s: float = 60.0,
        restart_after_s: float = 30.0,
        depth: int = 2,
    ) -> None:
        self._here = spec.builder()
        self._workers = [
            _Worker(spec, self._here.columns, connector, restart_after_s) for _ in range(workers)
        ]
        self._min_split = min_split
        self._timeout_s = answer_timeout_s
        self._depth = depth
        self._open: deque[_Split] = deque()
        """Split batches whose result was not taken yet, oldest first."""
        self.share_here = 1 / (workers + 1)
        """The fraction of a split batch encoded in this process; moves toward an even finish."""

    def submit(self, rows: Sequence[SourceRow]) -> Encoding:
        """Send the front of ``rows`` to the ready workers now; the rest is encoded here when
        the result is taken (so the caller can read its next batch, or submit it, meanwhile).
        With ``depth`` batches open already, the oldest is abandoned."""
        while len(self._open) >= self._depth:
            self._open.popleft()
        ready = [w for w in self._workers if w.ready()] if len(rows) >= self._min_split else []
        if not ready:
            return Deferred(self._here.event, rows)
        here_from = len(rows) - int(len(rows) * self.share_here)
        each = -(-here_from // len(ready))
        sent: _Parts = []
        for n, worker in enumerate(ready):
            part = rows[n * each : min((n + 1) * each, here_from)]
            if part:
                sent.append((worker, worker.send(part), part))
        split = _Split(self, sent, rows[here_from:])
        self._open.append(split)
        return split

    def _taken(self, split: _Split, workers_first: bool | None) -> None:
        """``split``'s result was taken (or failed): it and every batch before it are closed;
        the share kept here moves by whether the workers had answered first."""
        while self._open and self._open.popleft() is not split:
            pass
        if workers_first is not None:
            step = -0.02 if workers_first else 0.02
            self.share_here = min(max(self.share_here + step, 0.05), 0.95)

    def deletion(self, row: SourceRow, before: dict[str, Any]) -> Event:
        return self._here.deletion(row, before)

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()


class _Split:
    """A batch whose front parts are with workers and whose tail is encoded on :meth:`result`."""

    shared = True

    def __init__(self, pool: EncodePool, sent: _Parts, here: Sequence[SourceRow]) -> None:
        self._pool = pool
        self._sent = sent
        self._rows_here = here

    def result(self) -> list[Event | Rejected]:
        pool = self._pool
        try:
            mine = pool._here.events(self._rows_here)
        except BaseException:
            pool._taken(self, None)
            raise
        workers_first = all(t is None or w.answered() for w, t, _ in self._sent)
        out: list[Event | Rejected] = []
        for worker, ticket, part in self._sent:
            answer = None if ticket is None else worker.result(ticket, pool._timeout_s)
            out += pool._here.events(part) if answer is None else [_outcome(o) for o in answer]
        pool._taken(self, workers_first)
        return out + mine


def _outcome(answer: Outcome) -> Event | Rejected:
    first, second = answer
    if isinstance(first, bytes):
        assert isinstance(second, bytes)
        return Event(first, second)
    assert isinstance(second, str)
    return Rejected(first, second)
