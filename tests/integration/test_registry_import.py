"""`civicbus registry import`: a second civicbus registry stands in for Confluent's.

What a migration must keep: every ID (soft-deleted versions' included, since old messages carry
them), every version number, references and levels, so that a consumer reading old messages
decodes them through the new registry.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import fastavro
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from kafka import KafkaProducer

from ..helpers import ROOT, RegistryProcess, read_topic, unique
from .test_registry_client import ADDRESS, PERSON_TEXT, V1, V2, V3, avro, person

pytestmark = pytest.mark.integration


def civicbus_import(source: str, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicbus", "registry", "import", "--from", source, "--to", target],
        env=dict(os.environ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def framed(schema_id: int, schema: dict[str, object], value: dict[str, object]) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), value)
    return b"\0" + struct.pack(">I", schema_id) + body.getvalue()


def every_version(client: SchemaRegistryClient) -> dict[tuple[str, int], int]:
    return {
        (s, v): client.get_version(s, v, deleted=True).schema_id
        for s in client.get_subjects(deleted=True)
        for v in client.get_versions(s, deleted=True)
    }


def test_import_keeps_every_id_and_old_messages_decode(bootstrap: str, logs: Path) -> None:
    with (
        RegistryProcess(bootstrap, logs, "source") as source,
        RegistryProcess(bootstrap, logs, "blocker") as blocker,
        RegistryProcess(bootstrap, logs, "target") as target,
    ):
        src = SchemaRegistryClient({"url": source.url})
        for n in range(3):  # IDs 1-3 used and permanently deleted: the source's IDs have gaps
            src.register_schema(f"scratch-{n}", avro(f"S{n}", {"name": "x", "type": "int"}))
            src.delete_subject(f"scratch-{n}")
            src.delete_subject(f"scratch-{n}", permanent=True)
        old = src.register_schema("hukou-value", V1)
        new = src.register_schema("hukou-value", V2)
        src.register_schema("address-value", ADDRESS)
        user = src.register_schema("person-value", person())
        src.delete_version("hukou-value", 1)
        src.set_compatibility("hukou-value", "FULL")
        before = every_version(src)
        assert min(before.values()) > 3

        topic = unique("migrated")
        resolved = json.loads(PERSON_TEXT)
        resolved["fields"][1]["type"] = json.loads(ADDRESS.schema_str)
        sent = [
            (old, json.loads(V1.schema_str), {"a": 1}),
            (new, json.loads(V2.schema_str), {"a": 2, "b": "zwei"}),
            (user, resolved, {"name": "Li", "home": {"street": "Xinhua Rd"}}),
        ]
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for sid, schema, value in sent:
            producer.send(topic, framed(sid, schema, value))
        producer.flush()
        producer.close()

        # a target that holds another schema under one of the source's IDs is refused, untouched
        blocking = SchemaRegistryClient({"url": blocker.url})
        for n in range(max(before.values())):
            blocking.register_schema(f"local-{n}", avro(f"L{n}", {"name": "y", "type": "int"}))
        refused = civicbus_import(source.url, blocker.url)
        assert refused.returncode == 1, refused.stderr
        assert "nothing written" in refused.stderr and f"ID {old} is another schema" in refused.stderr
        blocker.restart()
        blocking = SchemaRegistryClient({"url": blocker.url})
        assert blocking.get_subjects() == [f"local-{n}" for n in range(max(before.values()))]
        assert blocking.get_global_mode() == "READWRITE"

        done = civicbus_import(source.url, target.url)
        assert done.returncode == 0, done.stderr
        assert "verified" in done.stdout
        target.restart()
        dst = SchemaRegistryClient({"url": target.url})
        assert every_version(dst) == before
        assert dst.get_versions("hukou-value") == [2] and dst.get_versions("hukou-value", deleted=True) == [
            1,
            2,
        ]
        assert dst.get_compatibility("hukou-value") == "FULL"
        assert dst.get_global_mode() == "READWRITE"
        assert dst.get_referenced_by("address-value", 1) == [user]

        decode = AvroDeserializer(dst)
        records = read_topic(bootstrap, topic, len(sent))
        got = [decode(r.value, SerializationContext(topic, MessageField.VALUE)) for r in records]
        assert got == [value for _, _, value in sent]

        again = civicbus_import(source.url, target.url)
        assert again.returncode == 0, again.stderr
        assert "0 imported" in again.stdout and f"{len(before)} already there" in again.stdout
        assert dst.register_schema("fresh-value", V3) > max(before.values())
