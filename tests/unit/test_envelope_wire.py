"""The connectors' envelope encoder writes, part by part, exactly the bytes fastavro writes for the
whole change event, in every shape an event takes; and refuses what is not an envelope."""

from __future__ import annotations

import random
from typing import Any

import pytest

from civicbus.schemas import model, wire
from civicbus.schemas.envelope_wire import EnvelopeEncoder
from civicbus.schemas.wire import AvroEncoder, SerializationError

from .test_wire_encoder import _value
from .test_wire_raw import MemoryRegistry

SOURCE = {"department": "民政", "system": "低保系统", "connector": "c", "database": "pg://h/db", "table": "T"}


def _event(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    op = rng.choice(["c", "u", "d", "r"])
    record = _value(body, rng)
    return {
        "op": op,
        "before": _value(body, rng) if op in "ud" and rng.random() < 0.7 else None,
        "after": None if op == "d" else record,
        "source": {**SOURCE, "key": '{"id": "7"}', "position": '{"log": "0/16B3748", "skip": 2}'},
        "ts_ms": rng.randrange(10**12, 2 * 10**12),
        "source_ts_ms": rng.choice([None, rng.randrange(10**12, 2 * 10**12)]),
        "quality": rng.choice([[], ["name: too long"], ["a: x", "b: 值"]]),
        "transaction": rng.choice([None, {"id": "0-1-33", "order": rng.randrange(1, 10**6)}]),
    }


def _parts(encoder: EnvelopeEncoder, event: dict[str, Any]) -> bytes:
    source = event["source"]
    fields = ("op", "before", "after", "ts_ms", "source_ts_ms", "quality", "transaction")
    op, before, after, ts_ms, source_ts_ms, quality, transaction = (event[f] for f in fields)
    return encoder.event(
        op, before, after, source["key"], source["position"], ts_ms, source_ts_ms, quality, transaction
    )


@pytest.mark.parametrize("entity", ["Resident", "Subsidy", "LegalEntity", "PensionInsurance"])
def test_parts_are_the_whole_envelopes_bytes(entity: str) -> None:
    envelope = model.envelope(entity)
    whole = AvroEncoder(MemoryRegistry(), f"{entity}-value", envelope, fast=False)  # fastavro
    parts = EnvelopeEncoder(None, f"{entity}-value", envelope, SOURCE, schema_id=whole.schema_id)
    rng = random.Random(entity)
    for _ in range(300):
        event = _event(model.schema(entity), rng)
        assert _parts(parts, event) == whole(event)


def test_without_cavro_the_whole_envelope_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "cavro", None)
    envelope = model.envelope("Resident")
    whole = AvroEncoder(MemoryRegistry(), "r-value", envelope, fast=False)
    parts = EnvelopeEncoder(None, "r-value", envelope, SOURCE, schema_id=whole.schema_id)
    rng = random.Random(3)
    for _ in range(50):
        event = _event(model.schema("Resident"), rng)
        assert _parts(parts, event) == whole(event)


def test_a_value_that_does_not_fit_names_the_subject() -> None:
    encoder = EnvelopeEncoder(None, "people-value", model.envelope("Resident"), SOURCE, schema_id=1)
    event = _event(model.schema("Resident"), random.Random(1))
    with pytest.raises(SerializationError, match="people-value"):
        _parts(encoder, {**event, "after": {"id_number": 7}})
    with pytest.raises(SerializationError, match="people-value"):
        _parts(encoder, {**event, "op": "x"})


def test_what_is_not_an_envelope_is_refused_at_construction() -> None:
    envelope = model.envelope("Resident")
    with pytest.raises(ValueError, match="not a change envelope"):
        EnvelopeEncoder(None, "v", model.schema("Resident"), SOURCE, schema_id=1)
    with pytest.raises(ValueError, match=r"\['table'\] not given"):
        EnvelopeEncoder(None, "v", envelope, {k: v for k, v in SOURCE.items() if k != "table"}, schema_id=1)
