"""The connectors' encoder writes fastavro's bytes with cavro, for change events as the mapping
makes them (dates, decimals, timestamps as Python values), and names the subject when a record
does not fit."""

from __future__ import annotations

import datetime as dt
import decimal
import random

import pytest

from civicbus.schemas import model
from civicbus.schemas.wire import AvroEncoder, SerializationError

from .test_wire_raw import MemoryRegistry


def _value(avro_type: object, rng: random.Random) -> object:
    """A Python value of ``avro_type`` as the connectors' mapping produces it."""
    if isinstance(avro_type, list):
        return None if rng.random() < 0.3 else _value(next(t for t in avro_type if t != "null"), rng)
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "date":
            return dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(30_000))
        if logical == "timestamp-millis":
            return rng.randrange(10**12, 2 * 10**12)
        if logical == "decimal":
            scale = int(avro_type.get("scale", 0))
            return decimal.Decimal(rng.randrange(10**6)).scaleb(-scale)
        if avro_type["type"] == "enum":
            return rng.choice(avro_type["symbols"])
        if avro_type["type"] == "array":
            return [_value(avro_type["items"], rng) for _ in range(rng.randrange(3))]
        if avro_type["type"] == "record":
            return {f["name"]: _value(f["type"], rng) for f in avro_type["fields"]}
        return _value(avro_type["type"], rng)
    return {
        "string": "值" * rng.randrange(5),
        "int": rng.randrange(-(2**31), 2**31),
        "long": rng.randrange(-(2**40), 2**40),
        "boolean": rng.random() < 0.5,
        "double": rng.random(),
    }.get(str(avro_type), "x")


@pytest.mark.parametrize("entity", ["Resident", "Subsidy", "LegalEntity", "PensionInsurance"])
def test_cavro_writes_fastavro_bytes_for_change_events(entity: str) -> None:
    envelope = model.envelope(entity)
    fast, slow = (AvroEncoder(MemoryRegistry(), f"{entity}-value", envelope, fast=f) for f in (True, False))
    body = model.schema(entity)
    rng = random.Random(entity)
    for _ in range(200):
        record = _value(body, rng)
        event = {
            "op": rng.choice(["c", "u", "d", "r"]),
            "before": record if rng.random() < 0.5 else None,
            "after": record,
            "source": {
                k: "s" for k in ("department", "system", "connector", "database", "table", "key", "position")
            },
            "ts_ms": 1_795_873_890_394,
            "source_ts_ms": None,
            "quality": ["name: too long"],
            "transaction": {"id": "0-1-33", "order": 2} if rng.random() < 0.5 else None,
        }
        assert fast(event) == slow(event)


def test_a_record_that_does_not_fit_names_the_subject() -> None:
    encode = AvroEncoder(MemoryRegistry(), "people-value", model.schema("Resident"))
    with pytest.raises(SerializationError, match="people-value"):
        encode({"id_number": 7})
