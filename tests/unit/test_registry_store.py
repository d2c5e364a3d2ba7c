"""The registry's rules (Confluent's) over an in-memory record log, each checked across a restart."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from civicbus.registry.records import Reference, Stored
from civicbus.registry.store import SchemaStore
from civicbus.schemas.registry_errors import RegistryError

from .fakes import MemoryLog


def record(name: str, *fields: dict[str, object], namespace: str = "t") -> Stored:
    return Stored(
        json.dumps({"type": "record", "name": name, "namespace": namespace, "fields": list(fields)})
    )


V1 = record("R", {"name": "a", "type": "long"})
V2 = record("R", {"name": "a", "type": "long"}, {"name": "b", "type": "string", "default": ""})
V3 = record("R", {"name": "a", "type": "long"}, {"name": "c", "type": "int", "default": 0})


@pytest.fixture
def records() -> MemoryLog:
    return MemoryLog()


def open_store(records: MemoryLog) -> SchemaStore:
    store = SchemaStore(records)
    store.load()
    return store


def fails(code: int, call: Callable[[], object]) -> None:
    with pytest.raises(RegistryError) as caught:
        call()
    assert caught.value.code == code, caught.value


def test_soft_then_permanent_delete_of_a_version(records: MemoryLog) -> None:
    store = open_store(records)
    first = store.register("s", V1).id
    second = store.register("s", V2).id
    assert store.delete_version("s", 1) == 1
    store = open_store(records)
    assert [v.version for v in store.versions("s")] == [2]
    assert [v.version for v in store.versions("s", deleted=True)] == [1, 2]
    assert [v.version for v in store.versions("s", deleted_only=True)] == [1]
    assert store.schema(first) == Stored(
        json.dumps(json.loads(V1.text), sort_keys=True, separators=(",", ":"))
    )
    fails(RegistryError.VERSION_NOT_FOUND, lambda: store.version("s", 1))
    assert store.version("s", 1, deleted=True).deleted
    fails(RegistryError.VERSION_SOFT_DELETED, lambda: store.delete_version("s", 1))
    fails(RegistryError.VERSION_NOT_SOFT_DELETED, lambda: store.delete_version("s", 2, permanent=True))
    assert store.holders(first) == [] and [v.version for v in store.holders(first, deleted=True)] == [1]

    assert store.delete_version("s", 1, permanent=True) == 1
    store = open_store(records)
    fails(RegistryError.SCHEMA_NOT_FOUND, lambda: store.schema(first))
    fails(RegistryError.VERSION_NOT_FOUND, lambda: store.version("s", 1, deleted=True))
    assert store.version("s", "latest").id == second


def test_soft_then_permanent_delete_of_a_subject(records: MemoryLog) -> None:
    store = open_store(records)
    store.register("s", V1)
    store.register("s", V2)
    store.set_level("NONE", "s")
    store.set_mode("READWRITE", "s")
    fails(RegistryError.SUBJECT_NOT_SOFT_DELETED, lambda: store.delete_subject("s", permanent=True))
    assert store.delete_subject("s") == [1, 2]
    store = open_store(records)
    assert store.subjects() == [] and store.subjects(deleted=True) == ["s"]
    assert store.subjects(deleted_only=True) == ["s"]
    fails(RegistryError.SUBJECT_NOT_FOUND, lambda: store.versions("s"))
    fails(RegistryError.SUBJECT_SOFT_DELETED, lambda: store.delete_subject("s"))
    fails(RegistryError.SUBJECT_NOT_FOUND, lambda: store.delete_subject("nothing"))

    assert store.delete_subject("s", permanent=True) == [1, 2]
    store = open_store(records)
    assert store.subjects(deleted=True) == []
    fails(RegistryError.SUBJECT_CONFIG_NOT_FOUND, lambda: store.level("s", fallback=False))
    fails(RegistryError.SUBJECT_MODE_NOT_FOUND, lambda: store.mode("s", fallback=False))
    # the subject starts again at version 1, with a new ID
    again = store.register("s", V1)
    assert again.version == 1


def test_an_id_is_never_handed_out_again_even_after_compaction(records: MemoryLog) -> None:
    store = open_store(records)
    store.register("keep", V1)
    gone = store.register("gone", V3).id
    store.delete_subject("gone")
    store.delete_subject("gone", permanent=True)
    records.compact()
    store = open_store(records)
    fails(RegistryError.SCHEMA_NOT_FOUND, lambda: store.schema(gone))
    fresh = store.register("other", V2).id
    assert fresh > gone
    # the very schema that was deleted comes back under a new ID, as in Confluent's registry
    assert store.register("gone", V3).id not in (gone, fresh)


def test_reregistering_a_soft_deleted_schema_keeps_its_id_in_a_new_version(records: MemoryLog) -> None:
    store = open_store(records)
    sid = store.register("s", V1).id
    store.register("s", V2)
    store.delete_version("s", 1)
    back = store.register("s", V1)
    store = open_store(records)
    assert (back.version, back.id) == (3, sid)
    # Confluent tombstones the soft-deleted version the new one replaces
    assert [v.version for v in store.versions("s", deleted=True)] == [2, 3]
    assert store.lookup("s", V1).version == 3


def test_readonly_refuses_every_write_and_import_keeps_given_ids(records: MemoryLog) -> None:
    store = open_store(records)
    store.register("s", V1)
    store.set_mode("READONLY", "s")
    store = open_store(records)
    for write in (
        lambda: store.register("s", V2),
        lambda: store.delete_version("s", 1),
        lambda: store.delete_subject("s"),
    ):
        fails(RegistryError.NOT_PERMITTED, write)
    assert store.register("t", V1).version == 1  # other subjects stay writable
    assert store.delete_mode("s") == "READONLY"

    fails(RegistryError.NOT_PERMITTED, lambda: store.set_mode("IMPORT"))  # live subjects exist
    fails(RegistryError.INVALID_MODE, lambda: store.set_mode("SIDEWAYS"))
    fails(RegistryError.NOT_PERMITTED, lambda: store.register("imp", V1, schema_id=40))  # not IMPORT yet
    store.set_mode("IMPORT", force=True)
    store = open_store(records)
    fails(RegistryError.NOT_PERMITTED, lambda: store.register("imp", V1))  # IMPORT needs the ID
    breaking = record("R", {"name": "z", "type": "string"})
    assert store.register("imp", V1, schema_id=40, version=7).id == 40
    assert store.register("imp", breaking, schema_id=41, version=9).id == 41  # no compatibility check
    assert store.register("imp", V1, schema_id=40, version=7).version == 7  # an import re-run
    fails(RegistryError.NOT_PERMITTED, lambda: store.register("x", V2, schema_id=40))  # ID taken
    store.set_mode("READWRITE")
    store = open_store(records)
    assert [(v.version, v.id) for v in store.versions("imp")] == [(7, 40), (9, 41)]
    assert store.register("new", V3).id == 42


REF_BASE = record("Address", {"name": "street", "type": "string"}, namespace="civ")
REF_USER = Stored(
    json.dumps(
        {
            "type": "record",
            "name": "Person",
            "namespace": "civ",
            "fields": [{"name": "home", "type": "civ.Address"}],
        }
    ),
    (Reference("civ.Address", "address", 1),),
)


def test_references_resolve_and_protect_what_they_point_at(records: MemoryLog) -> None:
    store = open_store(records)
    base = store.register("address", REF_BASE).id
    user = store.register("person", REF_USER)
    store = open_store(records)
    assert store.schema(user.id).references == REF_USER.references
    assert store.referenced_by("address", 1) == [user.id]
    assert store.lookup("person", REF_USER).id == user.id
    fails(RegistryError.REFERENCE_EXISTS, lambda: store.delete_version("address", 1))
    fails(RegistryError.REFERENCE_EXISTS, lambda: store.delete_subject("address"))
    # the same text without its reference is not the same schema, and does not parse
    fails(RegistryError.INVALID_SCHEMA, lambda: store.register("other", Stored(REF_USER.text)))
    dangling = Stored(REF_USER.text, (Reference("civ.Address", "address", 5),))
    fails(RegistryError.INVALID_SCHEMA, lambda: store.register("other", dangling))
    store.delete_subject("person")
    assert store.referenced_by("address", 1) == [] and store.referenced_by("address", 1, deleted=True) == [
        user.id
    ]
    assert store.delete_subject("address") == [1]  # soft-deleted referrers do not block a soft delete
    fails(RegistryError.REFERENCE_EXISTS, lambda: store.delete_subject("address", permanent=True))
    store.delete_subject("person", permanent=True)
    store.delete_subject("address", permanent=True)
    fails(RegistryError.SCHEMA_NOT_FOUND, lambda: store.schema(base))


def test_normalize_makes_equivalent_texts_one_schema(records: MemoryLog) -> None:
    store = open_store(records)
    plain = store.register("s", record("R", {"name": "a", "type": "string"}), normalize=True)
    spelled = Stored(
        json.dumps({"type": "record", "name": "t.R", "fields": [{"name": "a", "type": {"type": "string"}}]})
    )
    assert store.register("s", spelled, normalize=True).id == plain.id
    assert store.lookup("s", spelled, normalize=True).version == 1
    fails(RegistryError.SCHEMA_NOT_FOUND, lambda: store.lookup("s", spelled))
    store.set_level("NONE", "s")
    assert store.register("s", spelled).id != plain.id  # without normalize it is another text


def test_settings_and_errors_match_confluent(records: MemoryLog) -> None:
    store = open_store(records)
    assert store.level() == "BACKWARD" and store.mode() == "READWRITE"
    store.set_level("FULL")
    store.set_level("NONE", "s")
    store = open_store(records)
    assert (store.level(), store.level("s", fallback=False), store.level("t")) == ("FULL", "NONE", "FULL")
    assert store.delete_level("s") == "NONE" and store.delete_level() == "FULL"
    fails(RegistryError.SUBJECT_NOT_FOUND, lambda: store.delete_level("s"))
    assert store.level("s") == "BACKWARD"
    fails(RegistryError.INVALID_COMPATIBILITY, lambda: store.set_level("LOOSE"))
    fails(RegistryError.INVALID_VERSION, lambda: store.version("s", "first"))
    store.register("s", V1)
    fails(
        RegistryError.INCOMPATIBLE, lambda: store.register("s", record("R", {"name": "z", "type": "string"}))
    )
