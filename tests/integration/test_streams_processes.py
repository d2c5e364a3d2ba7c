"""A worker of two engine processes: they split the views' partitions as two workers would, a
SIGTERM stops them with the worker (exit 0), and a SIGKILLed worker's engine processes stop on
their own: no orphan goes on folding partitions the group has handed to someone else."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..helpers import alive, engine_pids, log_events, spawn, stop, streams_env, unique, wait_until

pytestmark = pytest.mark.integration


def holdings(log: Path) -> dict[int, set[int]]:
    """The partitions each engine process holds now, from its assigned/revoked events."""
    held: dict[int, set[int]] = {}
    for event in log_events(log):
        if event["event"] == "streams.assigned":
            held.setdefault(event["member"], set()).update(event["partitions"])
        elif event["event"] == "streams.revoked":
            held.setdefault(event["member"], set()).difference_update(event["partitions"])
    return held


def split(log: Path) -> dict[int, set[int]] | None:
    """Each member's partitions once both hold some and together all three, none twice."""
    held = holdings(log)
    parts = [p for member in held.values() for p in member]
    done = set(held) == {0, 1} and all(held.values()) and sorted(parts) == [0, 1, 2]
    return held if done else None


@contextmanager
def started(tmp_path: Path, bus_env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker of two engine processes over fresh (empty) department topics, once they split
    the partitions; stopped (and its engine processes killed) after the block whatever happened."""
    setup = streams_env(bus_env, tmp_path, unique("hukou"), unique("minzheng"))
    worker = spawn(["streams", "worker"], {**setup.env, "CIVICBUS_STREAMS_PROCESSES": "2"}, log)
    engines: list[int] = []
    try:
        wait_until(lambda: split(log), 120, "two engine processes sharing the partitions")
        engines = engine_pids(worker)
        yield worker
    finally:
        stop(worker, timeout=60)
        for pid in engines:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_of_two_processes_splits_the_partitions_and_stops_with_them(
    tmp_path: Path, bus_env: dict[str, str], logs: Path
) -> None:
    with started(tmp_path, bus_env, logs / "worker.log") as worker:
        engines = engine_pids(worker)
        assert len(engines) == 2, f"engine processes {engines}"
        assert stop(worker, timeout=60) == 0
        assert not [pid for pid in engines if alive(pid)], "an engine process outlived its worker"
    events = [e["event"] for e in log_events(logs / "worker.log")]
    assert events.count("streams.stopped") == 1 and "streams.process_exited" not in events


def test_the_engine_processes_of_a_killed_worker_stop_on_their_own(
    tmp_path: Path, bus_env: dict[str, str], logs: Path
) -> None:
    with started(tmp_path, bus_env, logs / "worker.log") as worker:
        engines = engine_pids(worker)
        stop(worker, signal.SIGKILL)
        wait_until(
            lambda: not [pid for pid in engines if alive(pid)], 60, "the orphaned engine processes to stop"
        )
    gone = [e for e in log_events(logs / "worker.log") if e["event"] == "streams.parent_gone"]
    assert {e["member"] for e in gone} == {0, 1}
