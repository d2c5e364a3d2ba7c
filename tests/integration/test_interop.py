"""A client civicbus did not write (confluent-kafka) reads what a civicbus connector produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from civicbus.demo.generate import generate

from ..helpers import connector_file, read_topic, spawn, stop

pytestmark = pytest.mark.integration


def test_confluent_avro_deserializer_decodes_connector_records(
    tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    h, _ = generate(url, f"sqlite:///{tmp_path / 'm.db'}", 50, subsidy_share=0.0)
    path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", url)
    topic = cfg["target"]["topic"]
    proc = spawn(["connectors", "run", str(path)], bus_env, logs / "c.log")
    try:
        records = read_topic(bootstrap, topic, h, timeout=60)
    finally:
        stop(proc)
    client = SchemaRegistryClient({"url": registry_url})
    values = AvroDeserializer(client)
    keys = AvroDeserializer(client)
    for rec in records:
        event = values(rec.value, SerializationContext(topic, MessageField.VALUE))
        key = keys(rec.key, SerializationContext(topic, MessageField.KEY))
        assert event["op"] == "r" and event["after"]["id_number"] == key
        assert event["source"]["connector"] == cfg["name"]
    # and the way a downstream app reads: civicbus tail
    tail = subprocess.run(
        [
            sys.executable,
            "-m",
            "civicbus",
            "tail",
            topic,
            "--from-beginning",
            "--max-records",
            "3",
            "--timeout",
            "30",
        ],
        env={**os.environ, **bus_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(x) for x in tail.stdout.splitlines()]
    assert len(lines) == 3 and all(x["value"]["after"]["id_number"] == x["key"] for x in lines)
    latest = client.get_latest_version(f"{topic}-value")
    assert latest.version == 1 and "ResidentEvent" in latest.schema.schema_str
