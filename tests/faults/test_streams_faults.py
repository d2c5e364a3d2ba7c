"""A streams worker SIGKILLed mid-stream, restarted or taken over by a second worker, or one
engine process of a worker of two killed and started again by the worker: the unified view ends
holding every resident once, each with exactly the subsidies civil affairs holds for
them (none lost, none doubled), and a ``read_committed`` subscriber never received the same
record twice in a row for a key (the batch the kill interrupted was aborted, not written again
beside its first copy). The seed is printed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from civicbus.demo.generate import HUKOU, MINZHENG, generate
from civicbus.schemas.standards import id_number

from ..helpers import (
    connector_file,
    engine_pids,
    free_port,
    log_events,
    read_topic,
    spawn,
    stop,
    streams_env,
    view_state,
    wait_until,
)
from .workload import seed

pytestmark = pytest.mark.integration


def scraped(port: int, metric: str) -> float:
    """``metric`` summed over its labels on a worker's /metrics; 0 while it does not answer."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return 0.0
    return sum(
        float(line.split()[-1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] == metric
    )


def folded(port: int) -> float:
    """Events a worker has processed, from its /metrics."""
    return scraped(port, "civicbus_streams_events_processed_total")


@pytest.mark.parametrize("survivor", ["restarted", "second worker", "engine process restarted"])
def test_a_killed_streams_worker_loses_and_doubles_nothing_in_the_view(
    survivor: str, tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    rng = random.Random(seed())
    hukou_url, minzheng_url = f"sqlite:///{tmp_path / 'h.db'}", f"sqlite:///{tmp_path / 'm.db'}"
    h, m = generate(hukou_url, minzheng_url, 3000, seed=rng.randrange(10**6), bad_rate=0.0)
    with sa.create_engine(hukou_url).connect() as conn:
        registered = {r.GMSFHM for r in conn.execute(sa.select(HUKOU.c.GMSFHM))}
    with sa.create_engine(minzheng_url).connect() as conn:
        subsidies = Counter(id_number.normalize(r.sfzh) for r in conn.execute(sa.select(MINZHENG.c.sfzh)))
    hukou_yaml, hukou = connector_file(tmp_path, "gongan-hukou.yaml", hukou_url, batch_size=100)
    minzheng_yaml, minzheng = connector_file(tmp_path, "minzheng-subsidy.yaml", minzheng_url, batch_size=100)
    setup = streams_env(bus_env, tmp_path, hukou["target"]["topic"], minzheng["target"]["topic"])
    view = setup.view
    ports = [free_port(), free_port()]

    def worker(n: int, log: str) -> subprocess.Popen[bytes]:
        env = {
            **setup.env,
            "CIVICBUS_STREAMS_PROCESSES": "2" if survivor == "engine process restarted" else "1",
            # many small transactions: a kill lands inside one far more often than between two
            "CIVICBUS_STREAMS_BATCH_SIZE": "10",
            "CIVICBUS_STREAMS_METRICS_PORT": str(ports[n]),
            "CIVICBUS_STREAMS_DATA_DIR": str(tmp_path / f"streams-{n}"),  # RocksDB: one folder each
        }
        return spawn(["streams", "worker"], env, logs / log)

    procs = [
        spawn(["connectors", "run", str(minzheng_yaml)], setup.env, logs / "minzheng.log"),
        spawn(["connectors", "run", str(hukou_yaml)], setup.env, logs / "hukou.log"),
    ]
    # the whole input on its topics first, so the workers are busy folding when one is killed
    read_topic(bootstrap, hukou["target"]["topic"], h, timeout=180)
    read_topic(bootstrap, minzheng["target"]["topic"], m, timeout=180)
    workers = [worker(0, "streams-1.log")]
    if survivor == "second worker":
        # both in the group sharing the partitions before one of them dies
        workers.append(worker(1, "streams-2.log"))
        wait_until(lambda: all(folded(p) > 0 for p in ports), 180, "both workers folding events")
    try:
        at = rng.uniform(200, (h + m) / 4)  # within one worker's share of the partitions
        wait_until(lambda: folded(ports[0]) >= at, 180, f"the first worker folding {at:.0f} events")
        if survivor == "engine process restarted":
            os.kill(rng.choice(engine_pids(workers[0])), signal.SIGKILL)
        else:
            stop(workers[0], signal.SIGKILL)
        if survivor == "restarted":
            workers[0] = worker(0, "streams-1b.log")
        everyone = registered | set(subsidies)

        def complete() -> dict[str, Any] | None:
            state = view_state(bootstrap, registry_url, view)
            done = set(state) == everyone and all(
                len(p["subsidies"]) == subsidies[k] and (p["registration"] is not None) == (k in registered)
                for k, p in state.items()
            )
            return state if done else None

        state = wait_until(complete, 240, f"the view complete after the kill ({survivor})", interval=2)
        delivered = read_topic(bootstrap, view, len(state), timeout=60, settle=2)
        restarts = scraped(ports[0], "civicbus_streams_process_restarts_total")
    finally:
        for proc in (*procs, *workers):
            stop(proc)
    doubled = [
        k for k, p in state.items() if len({s["subsidy_id"] for s in p["subsidies"]}) != len(p["subsidies"])
    ]
    last: dict[bytes, bytes | None] = {}
    repeated = 0
    for rec in delivered:
        repeated += rec.key in last and last[rec.key] == rec.value
        last[rec.key] = rec.value
    print(
        f"{survivor}: residents {len(everyone)}, profiles {len(state)}, doubled {len(doubled)}, "
        f"records {len(delivered)}, repeated {repeated}"
    )
    assert not doubled
    assert repeated == 0, f"{repeated} records reached the subscriber twice in a row"
    if survivor == "engine process restarted":
        exits = [e for e in log_events(logs / "streams-1.log") if e["event"] == "streams.process_exited"]
        assert [e["exit_code"] for e in exits] == [-signal.SIGKILL], "the worker saw its process killed"
        assert restarts == 1, "and counted its restart on /metrics"
