"""The streams' codec (values as Avro stores them) writes the bytes of fastavro's own writer on
both its libraries, for every canonical record and change envelope, and refuses what does not fit
with the subject named."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from typing import Any

import fastavro
import fastavro.utils
import pytest

from civicbus.schemas import model
from civicbus.schemas.wire import SerializationError
from civicbus.schemas.wire_raw import DEFAULT, RawDecoder, RawEncoder, plain


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


BACKENDS = ["cavro", "fastavro"]


def test_cavro_is_the_default_where_it_is_installed() -> None:
    assert DEFAULT == "cavro"  # this machine is x86-64: pyproject installs cavro here


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_same_bytes_as_fastavro_and_back(name: str, backend: str) -> None:
    schema = SCHEMAS[name]
    registry = MemoryRegistry()
    encode = RawEncoder(registry, f"{name}-value", schema, backend)
    decode = RawDecoder(registry, backend)
    parsed = fastavro.parse_schema(plain(schema))
    values = list(itertools.islice(fastavro.utils.generate_many(plain(schema), 50), 50))
    for value in values:
        expected = io.BytesIO()
        fastavro.schemaless_writer(expected, parsed, value)
        framed = encode(value)
        assert framed[5:] == expected.getvalue()
        assert decode(framed) == fastavro.schemaless_reader(io.BytesIO(expected.getvalue()), parsed, None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_value_that_does_not_fit_names_the_subject(backend: str) -> None:
    registry = MemoryRegistry()
    encode = RawEncoder(registry, "people-value", model.schema("Resident"), backend)
    good = next(fastavro.utils.generate_many(plain(model.schema("Resident")), 1))
    unfit = [{"name": 7}, {"birth_date": "yesterday"}]
    if backend == "cavro":  # fastavro writes these
        unfit += [{"birth_date": 2**40}, {"birth_date": True}]
    for bad in [{**good, **change} for change in unfit] + [{"name": "x"}]:
        with pytest.raises(SerializationError, match="people-value"):
            encode(bad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_absent_optional_field_is_written_null(backend: str) -> None:
    registry = MemoryRegistry()
    schema = model.schema("Resident")
    encode = RawEncoder(registry, "people-value", schema, backend)
    value = next(fastavro.utils.generate_many(plain(schema), 1))
    optional = [f["name"] for f in schema["fields"] if isinstance(f["type"], list) and "null" in f["type"]]
    assert optional
    decoded = RawDecoder(registry, backend)(encode({k: v for k, v in value.items() if k not in optional}))
    assert all(decoded[name] is None for name in optional)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bytes_that_do_not_decode_name_the_schema(backend: str) -> None:
    registry = MemoryRegistry()
    encode = RawEncoder(registry, "people-value", model.schema("Resident"), backend)
    value = next(fastavro.utils.generate_many(plain(model.schema("Resident")), 1))
    framed = encode(value)
    decode = RawDecoder(registry, backend)
    with pytest.raises(SerializationError, match="schema 1"):
        decode(framed[:-3])
    with pytest.raises(SerializationError, match="magic byte"):
        decode(b"\x01" + framed[1:])


def test_without_cavro_the_streams_use_fastavro() -> None:
    """As on an ARM machine, where pyproject does not install cavro."""
    probe = (
        "import sys; sys.modules['cavro'] = None\n"
        "from civicbus.schemas import wire_raw\n"
        "print(wire_raw.DEFAULT, type(wire_raw.compile_raw('string')).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["fastavro", "_Fastavro"]
