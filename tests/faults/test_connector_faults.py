"""Faults while a legacy table keeps growing: nothing lost, nothing repeated (read_committed).

The connector is SIGKILLed at random moments (at start-up, mid-batch, mid-commit) at least 20
times, and the broker itself is SIGKILLed and restarted once in the middle. A writer keeps adding
rows the whole time. Afterwards a read_committed consumer must see every row exactly once.
The seed is printed; ``CIVICBUS_FAULT_SEED=N`` replays a run.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from civicbus.demo.generate import create
from civicbus.ops.kafka import broker

from ..conftest import TEST_BROKER
from ..helpers import connector_file, fresh_database, spawn, stop
from .workload import delivered, growing, seed, verdict

pytestmark = pytest.mark.integration
KILLS = 20


def test_twenty_connector_kills_and_a_broker_kill_lose_and_repeat_nothing(
    tmp_path: Path,
    bus_env: dict[str, str],
    bootstrap: str,
    registry_url: str,
    postgres_url: str,
    logs: Path,
) -> None:
    rng = random.Random(seed())
    with fresh_database(postgres_url) as db:
        create(db.reader_url).dispose()
        path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", db.reader_url, batch_size=200)
        topic = cfg["target"]["topic"]
        with growing(db.writer, rng) as written:
            for kill in range(KILLS):
                proc = spawn(["connectors", "run", str(path)], bus_env, logs / f"run-{kill}.log")
                time.sleep(rng.uniform(0.5, 4.0))
                if kill == KILLS // 2:
                    broker.stop(TEST_BROKER, force=True)
                    time.sleep(rng.uniform(0.5, 3.0))
                    broker.start(TEST_BROKER)
                    time.sleep(rng.uniform(0.5, 3.0))
                stop(proc, signal.SIGKILL)
            time.sleep(1.0)
        total = len(written)
        proc = spawn(["connectors", "run", str(path)], bus_env, logs / "final.log")
        try:
            keys = delivered(bootstrap, registry_url, topic, total)
        finally:
            assert stop(proc) == 0
    verdict(written, keys)
