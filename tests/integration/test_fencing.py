"""A second instance of a connector fences the first (its transactional id): rows still arrive
once each, and the fenced instance ends instead of fighting back."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from civicbus.demo.generate import HUKOU, create, hukou_row, local_now, person

from ..helpers import connector_file, decoder, read_topic, spawn, stop, wait_until

pytestmark = pytest.mark.integration


def test_a_second_instance_fences_the_first_and_nothing_is_repeated(
    tmp_path: Path, bus_env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = create(url)
    rng = random.Random(7)

    def add(n: int) -> None:
        with engine.begin() as conn:
            conn.execute(HUKOU.insert(), [hukou_row(person(rng), rng, local_now()) for _ in range(n)])

    add(500)
    path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", url, batch_size=50)
    first = spawn(["connectors", "run", str(path)], bus_env, logs / "first.log")
    read_topic(bootstrap, cfg["target"]["topic"], 100, timeout=120)
    second = spawn(["connectors", "run", str(path)], bus_env, logs / "second.log")
    try:
        started = logs / "second.log"
        wait_until(lambda: "connector.started" in started.read_text(), 120, "the second instance")
        add(500)  # both instances read these; only one may commit them
        wait_until(lambda: first.poll() is not None, 120, "the first instance to end, fenced")
        assert first.returncode == 1 and "connector.fenced" in (logs / "first.log").read_text()
        records = read_topic(bootstrap, cfg["target"]["topic"], 1000, timeout=120, settle=2.0)
    finally:
        stop(first)
        assert stop(second) == 0
    decode = decoder(registry_url)
    keys = Counter(json.loads(decode(r.value)["source"]["key"])["RKID"] for r in records)
    assert len(keys) == 1000 and max(keys.values()) == 1
