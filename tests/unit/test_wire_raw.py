"""The streams' codec (cavro, values as Avro stores them) writes fastavro's bytes for every
canonical record and change envelope, and refuses what does not fit with the subject named."""

from __future__ import annotations

import io
import itertools
from typing import Any

import fastavro
import fastavro.utils
import pytest

from civicbus.schemas import model
from civicbus.schemas.wire import SerializationError
from civicbus.schemas.wire_raw import RawDecoder, RawEncoder, plain


class MemoryRegistry:
    """The two calls the codecs make of a registry, in memory."""

    def __init__(self) -> None:
        self.schemas: dict[int, Any] = {}

    def register(self, subject: str, schema: Any) -> int:
        sid = len(self.schemas) + 1
        self.schemas[sid] = schema
        return sid

    def schema(self, sid: int) -> Any:
        return self.schemas[sid]


SCHEMAS = {
    **{name: model.schema(name) for name in sorted(model.catalog())},
    **{f"envelope {name}": model.envelope(name) for name in ("Resident", "Subsidy", "LegalEntity")},
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_same_bytes_as_fastavro_and_back(name: str) -> None:
    schema = SCHEMAS[name]
    registry = MemoryRegistry()
    encode = RawEncoder(registry, f"{name}-value", schema)
    decode = RawDecoder(registry)
    parsed = fastavro.parse_schema(plain(schema))
    values = list(itertools.islice(fastavro.utils.generate_many(plain(schema), 50), 50))
    for value in values:
        expected = io.BytesIO()
        fastavro.schemaless_writer(expected, parsed, value)
        framed = encode(value)
        assert framed[5:] == expected.getvalue()
        assert decode(framed) == fastavro.schemaless_reader(io.BytesIO(expected.getvalue()), parsed, None)


def test_a_value_that_does_not_fit_names_the_subject() -> None:
    registry = MemoryRegistry()
    encode = RawEncoder(registry, "people-value", model.schema("Resident"))
    good = next(fastavro.utils.generate_many(plain(model.schema("Resident")), 1))
    unfit = [{"birth_date": 2**40}, {"birth_date": True}, {"name": 7}]
    for bad in [{**good, **change} for change in unfit] + [{"name": "x"}]:
        with pytest.raises(SerializationError, match="people-value"):
            encode(bad)


def test_an_absent_optional_field_is_written_null() -> None:
    registry = MemoryRegistry()
    schema = model.schema("Resident")
    encode = RawEncoder(registry, "people-value", schema)
    value = next(fastavro.utils.generate_many(plain(schema), 1))
    optional = [f["name"] for f in schema["fields"] if isinstance(f["type"], list) and "null" in f["type"]]
    assert optional
    decoded = RawDecoder(registry)(encode({k: v for k, v in value.items() if k not in optional}))
    assert all(decoded[name] is None for name in optional)


def test_bytes_that_do_not_decode_name_the_schema() -> None:
    registry = MemoryRegistry()
    encode = RawEncoder(registry, "people-value", model.schema("Resident"))
    value = next(fastavro.utils.generate_many(plain(model.schema("Resident")), 1))
    framed = encode(value)
    decode = RawDecoder(registry)
    with pytest.raises(SerializationError, match="schema 1"):
        decode(framed[:-3])
    with pytest.raises(SerializationError, match="magic byte"):
        decode(b"\x01" + framed[1:])
