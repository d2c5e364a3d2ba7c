"""A registry restart and a database restart while a legacy table keeps growing and a connector
streams it: a read_committed consumer still sees every row exactly once. The seed is printed."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from civicbus.demo.generate import create

from ..helpers import (
    answers,
    connector_file,
    free_port,
    fresh_database,
    spawn,
    stop,
    unique,
    wait_http,
    wait_until,
)
from .workload import delivered, growing, seed, verdict

pytestmark = pytest.mark.integration


def test_a_registry_restart_mid_stream_loses_and_repeats_nothing(
    tmp_path: Path, bus_env: dict[str, str], bootstrap: str, postgres_url: str, logs: Path
) -> None:
    rng = random.Random(seed())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    registry_env = {
        "CIVICBUS_BOOTSTRAP_SERVERS": bootstrap,
        "CIVICBUS_REGISTRY_PORT": str(port),
        "CIVICBUS_REGISTRY_TOPIC": unique("_schemas"),
    }
    env = {**bus_env, "CIVICBUS_REGISTRY_URL": url}
    registry = spawn(["registry", "serve"], registry_env, logs / "registry-1.log")
    wait_http(f"{url}/subjects", registry, logs / "registry-1.log")
    with fresh_database(postgres_url) as db:
        create(db.reader_url).dispose()
        path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", db.reader_url, batch_size=200)
        with growing(db.writer, rng) as written:
            connector = spawn(["connectors", "run", str(path)], env, logs / "c-1.log")
            time.sleep(rng.uniform(2.0, 5.0))
            stop(registry, signal.SIGKILL)
            time.sleep(rng.uniform(0.5, 2.0))  # the running connector has its schema IDs: it goes on
            stop(connector, signal.SIGKILL)
            connector = spawn(["connectors", "run", str(path)], env, logs / "c-2.log")
            wait_until(
                lambda: "registry.unavailable" in (logs / "c-2.log").read_text(),
                60,
                "the wait for the registry",
            )
            registry = spawn(["registry", "serve"], registry_env, logs / "registry-2.log")
            wait_http(f"{url}/subjects", registry, logs / "registry-2.log")
            time.sleep(rng.uniform(1.0, 3.0))
        try:
            keys = delivered(bootstrap, url, cfg["target"]["topic"], len(written))
        finally:
            assert stop(connector) == 0
            stop(registry)
    verdict(written, keys)


def test_a_database_restart_mid_stream_loses_and_repeats_nothing(
    tmp_path: Path, bus_env: dict[str, str], bootstrap: str, registry_url: str, postgres_url: str, logs: Path
) -> None:
    rng = random.Random(seed())
    version = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))[-1].name
    with fresh_database(postgres_url) as db:
        create(db.reader_url).dispose()
        path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", db.reader_url, batch_size=200)
        connector = spawn(["connectors", "run", str(path)], bus_env, logs / "c.log")
        try:
            with growing(db.writer, rng) as written:
                time.sleep(rng.uniform(2.0, 5.0))
                subprocess.run(["pg_ctlcluster", version, "civicbus", "restart", "-m", "fast"], check=True)
                wait_until(lambda: answers(db.writer), 60, "PostgreSQL back")
                time.sleep(rng.uniform(2.0, 4.0))
            keys = delivered(bootstrap, registry_url, cfg["target"]["topic"], len(written))
            assert connector.poll() is None, "the connector must ride out a database restart"
        finally:
            assert stop(connector) == 0
    assert written.refused, "the database never went away while rows were written: nothing was tested"
    verdict(written, keys)
