"""The registry as confluent-kafka's SchemaRegistryClient sees it, restarted between every step.

Each step uses a new client, so nothing is answered from the client's caches: what is checked is
what the registry replayed from its topic.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from pathlib import Path

import fastavro
import pytest
import requests
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from ..helpers import RegistryProcess

pytestmark = pytest.mark.integration


def avro(name: str, *fields: dict[str, object], namespace: str = "t") -> Schema:
    return Schema(
        json.dumps({"type": "record", "name": name, "namespace": namespace, "fields": list(fields)}), "AVRO"
    )


V1 = avro("R", {"name": "a", "type": "long"})
V2 = avro("R", {"name": "a", "type": "long"}, {"name": "b", "type": "string", "default": ""})
V3 = avro("R", {"name": "a", "type": "long"}, {"name": "c", "type": "int", "default": 0})
ADDRESS = avro("Address", {"name": "street", "type": "string"}, namespace="civ")
PERSON_TEXT = json.dumps(
    {
        "type": "record",
        "name": "Person",
        "namespace": "civ",
        "fields": [{"name": "name", "type": "string"}, {"name": "home", "type": "civ.Address"}],
    }
)


def person(version: int = 1) -> Schema:
    return Schema(PERSON_TEXT, "AVRO", [SchemaReference("civ.Address", "address-value", version)])


def refused(code: int, call: Callable[[], object]) -> None:
    with pytest.raises(SchemaRegistryError) as caught:
        call()
    assert caught.value.error_code == code, caught.value


@pytest.fixture
def registry(bootstrap: str, logs: Path) -> RegistryProcess:
    with RegistryProcess(bootstrap, logs) as process:
        yield process


def fresh(registry: RegistryProcess, restart: bool = True) -> SchemaRegistryClient:
    if restart:
        registry.restart()
    return SchemaRegistryClient({"url": registry.url})


def test_deletes_behave_as_confluents_across_restarts(registry: RegistryProcess) -> None:
    c = fresh(registry, restart=False)
    first = c.register_schema("dept-value", V1)
    second = c.register_schema("dept-value", V2)
    c = fresh(registry)
    assert c.get_versions("dept-value") == [1, 2]
    assert c.delete_version("dept-value", 1) == 1

    c = fresh(registry)
    assert c.get_versions("dept-value") == [2]
    assert c.get_versions("dept-value", deleted=True) == [1, 2]
    assert json.loads(c.get_schema(first).schema_str) == json.loads(V1.schema_str)  # still decodable
    refused(40402, lambda: c.get_version("dept-value", 1))
    assert c.get_version("dept-value", 1, deleted=True).schema_id == first
    refused(40406, lambda: c.delete_version("dept-value", 1))
    refused(40407, lambda: c.delete_version("dept-value", 2, permanent=True))
    assert c.delete_version("dept-value", 1, permanent=True) == 1

    c = fresh(registry)
    refused(40403, lambda: c.get_schema(first))
    assert c.get_versions("dept-value", deleted=True) == [2]
    refused(40405, lambda: c.delete_subject("dept-value", permanent=True))
    assert c.delete_subject("dept-value") == [2]

    c = fresh(registry)
    assert "dept-value" not in c.get_subjects()
    assert "dept-value" in c.get_subjects(deleted=True)
    assert c.get_schema(second).schema_str  # a soft-deleted subject's IDs still resolve
    refused(40401, lambda: c.get_versions("dept-value"))
    refused(40404, lambda: c.delete_subject("dept-value"))
    assert c.delete_subject("dept-value", permanent=True) == [2]

    c = fresh(registry)
    assert "dept-value" not in c.get_subjects(deleted=True)
    refused(40403, lambda: c.get_schema(second))
    refused(40401, lambda: c.delete_subject("dept-value"))
    # IDs of permanently deleted schemas are never handed out again, not even to the same schema
    assert c.register_schema("dept-value", V1) not in (first, second)
    assert c.get_versions("dept-value") == [1]


def test_modes_levels_references_and_lookups(registry: RegistryProcess) -> None:
    c = fresh(registry, restart=False)
    c.register_schema("locked-value", V1)
    assert c.update_mode("locked-value", "READONLY") == "READONLY"
    assert c.set_compatibility("locked-value", "NONE")["compatibility"] == "NONE"
    base = c.register_schema("address-value", ADDRESS)
    user = c.register_schema("person-value", person())

    c = fresh(registry)
    assert c.get_mode("locked-value") == "READONLY" and c.get_global_mode() == "READWRITE"
    assert c.get_compatibility("locked-value") == "NONE"
    refused(42205, lambda: c.register_schema("locked-value", V2))
    refused(42205, lambda: c.delete_subject("locked-value"))
    refused(42204, lambda: c.update_global_mode("SIDEWAYS"))
    refused(42205, lambda: c.update_global_mode("IMPORT"))  # subjects exist
    assert c.delete_mode("locked-value") == "READONLY"

    assert c.get_schema_types() == ["AVRO"] and c.get_contexts() == ["."]
    assert c.get_referenced_by("address-value", 1) == [user]
    held = c.get_schema(user)
    assert [(r.name, r.subject, r.version) for r in held.references] == [("civ.Address", "address-value", 1)]
    assert [(v.subject, v.version) for v in c.get_schema_versions(user)] == [("person-value", 1)]
    assert c.get_subjects_by_schema_id(base) == ["address-value"]
    assert c.lookup_schema("person-value", person()).schema_id == user
    refused(42206, lambda: c.delete_version("address-value", 1))
    with_rules = requests.post(
        f"{registry.url}/subjects/other-value/versions",
        json={"schema": V1.schema_str, "metadata": {"properties": {"owner": "x"}}},
        timeout=10,
    )
    assert with_rules.json()["error_code"] == 42201  # refused, not silently dropped
    raw = requests.get(f"{registry.url}/subjects/person-value/versions/1/schema", timeout=10)
    assert json.loads(raw.text) == json.loads(PERSON_TEXT)
    spelled = Schema(
        json.dumps({"type": "record", "name": "t.R", "fields": [{"name": "a", "type": {"type": "long"}}]})
    )
    c.set_compatibility("locked-value", "BACKWARD")

    c = fresh(registry)
    assert (
        c.register_schema("locked-value", spelled, normalize_schemas=True)
        == c.lookup_schema("locked-value", V1).schema_id
    )
    refused(40403, lambda: c.lookup_schema("locked-value", spelled))
    assert c.test_compatibility("locked-value", V3) is True
    refused(40901, lambda: c.register_schema("locked-value", avro("R", {"name": "z", "type": "string"})))
    # a message whose writer schema imports a named type decodes through the references
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body, fastavro.parse_schema(_resolved()), {"name": "Li", "home": {"street": "X"}}
    )
    framed = b"\0" + struct.pack(">I", user) + body.getvalue()
    decoded = AvroDeserializer(c)(framed, SerializationContext("person", MessageField.VALUE))
    assert decoded == {"name": "Li", "home": {"street": "X"}}


def _resolved() -> dict[str, object]:
    schema = json.loads(PERSON_TEXT)
    schema["fields"][1]["type"] = json.loads(ADDRESS.schema_str)
    return schema
