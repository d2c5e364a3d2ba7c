"""``civicbus deadletter replay`` on the real broker: sent back once, with key and provenance."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest
from kafka import KafkaProducer

from civicbus.core.deadletter import DeadLetter
from civicbus.core.kafka import ensure_topic

from ..helpers import ROOT, read_topic, unique

pytestmark = pytest.mark.integration


def civicbus(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CIVICBUS_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run(
        [sys.executable, "-m", "civicbus", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )


def test_replay_sends_processor_dead_letters_back_once_and_reports_the_rest(bootstrap: str) -> None:
    source, dlq = unique("source"), unique("dlq")
    ensure_topic(bootstrap, source, 3)
    ensure_topic(bootstrap, dlq, 1)
    letters = [
        DeadLetter(
            origin="resident-profile",
            origin_kind="processor",
            source={"topic": source, "partition": 1, "offset": i},
            key={"b64": base64.b64encode(f"key-{i}".encode()).decode()},
            position={"topic": source, "partition": 1, "offset": i},
            field="(event)",
            reason="RegistryError: 40403: Schema not found",
            payload=f"event-{i}".encode(),
        )
        for i in range(3)
    ]
    letters.append(
        DeadLetter(
            "minzheng", "connector", {"table": "mz_jzxx"}, {"id": "9"}, 9, "id_number", "bad", row={"x": 1}
        )
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for letter in letters:
        key, value, headers = letter.encode()
        producer.send(dlq, key=key, value=value, headers=headers)
    producer.send(dlq, key=b"x", value=b"not json")
    producer.flush()
    producer.close()

    first = civicbus(bootstrap, "deadletter", "replay", dlq)
    assert first.returncode == 1, first.stderr  # two were skipped, and said so
    assert "replayed 3 dead letter(s)" in first.stdout and first.stdout.count("skipped ") == 2 + 1
    assert "connector minzheng kept the row" in first.stdout and "not a civicbus dead letter" in first.stdout
    replayed = read_topic(bootstrap, source, 3, timeout=120, settle=1.0)
    assert sorted((r.key, r.value) for r in replayed) == [
        (f"key-{i}".encode(), f"event-{i}".encode()) for i in range(3)
    ]
    assert all(dict(r.headers)["civicbus.replayed-from"].startswith(dlq.encode()) for r in replayed)

    again = civicbus(bootstrap, "deadletter", "replay", dlq)
    assert "replayed 0 dead letter(s)" in again.stdout, again.stdout + again.stderr
    assert len(read_topic(bootstrap, source, 3, timeout=60, settle=1.0)) == 3
