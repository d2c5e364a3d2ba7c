"""Faults while a legacy table keeps growing: nothing lost, nothing repeated (read_committed).

The connector is SIGKILLed at random moments (at start-up, mid-batch, mid-commit) at least 20
times, and the broker itself is SIGKILLed and restarted once in the middle. A writer keeps adding
rows the whole time. Afterwards a read_committed consumer must see every row exactly once.
The seed is printed; ``CIVICBUS_FAULT_SEED=N`` replays a run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from civicbus.demo.generate import HUKOU, create, hukou_row, local_now, person
from civicbus.ops.kafka import broker

from ..conftest import TEST_BROKER
from ..helpers import connector_file, decoder, fresh_database, read_topic, spawn, stop, wait_until

pytestmark = pytest.mark.integration
KILLS = 20


def seed() -> int:
    chosen = int(os.environ.get("CIVICBUS_FAULT_SEED", time.time_ns() % 2**31))
    print(f"fault seed: {chosen} (replay with CIVICBUS_FAULT_SEED={chosen})")
    return chosen


@contextmanager
def growing(engine: sa.Engine, rng: random.Random) -> Iterator[list[int]]:
    """A writer adding one row at a time (each its own transaction) until the block ends."""
    written: list[int] = []
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            row = hukou_row(person(rng), rng, local_now())
            with engine.begin() as conn:
                written.append(conn.execute(HUKOU.insert().returning(HUKOU.c.RKID), [row]).scalar_one())
            done.wait(0.004)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield written
    finally:
        done.set()
        thread.join(30)


def delivered(bootstrap: str, registry_url: str, topic: str, at_least: int) -> Counter[str]:
    """Source keys of the committed events on ``topic``, once ``at_least`` distinct ones are there."""
    decode = decoder(registry_url)
    found: Counter[str] = Counter()

    def complete() -> bool:
        found.clear()
        records = read_topic(bootstrap, topic, 0, timeout=5, settle=0.3)
        found.update(str(json.loads(decode(r.value)["source"]["key"])["RKID"]) for r in records)
        return len(found) >= at_least

    wait_until(complete, 300, f"{at_least} distinct rows on {topic}", interval=1.0)
    return found


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
    expected = {str(k) for k in written}
    lost = expected - set(keys)
    repeated = {k: n for k, n in keys.items() if n > 1}
    print(f"rows written {total}, delivered {sum(keys.values())}, lost {len(lost)}, repeated {len(repeated)}")
    assert not lost, f"{len(lost)} rows lost, e.g. {sorted(lost)[:5]}"
    assert not repeated, f"{len(repeated)} rows repeated, e.g. {list(repeated.items())[:5]}"
