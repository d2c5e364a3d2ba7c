"""Confluent-framed Avro with values kept as Avro stores them, for the streams' hot path.

The same bytes as :mod:`.wire` (byte 0 = 0x00, bytes 1-4 = schema ID, then Avro binary). Values
of logical types are not converted: a date is days since 1970, a timestamp epoch milliseconds, a
decimal its bytes, and they encode back to the same bytes. So a decoded event folds and renders
without any conversion.

Two libraries can do the work, writing the same bytes (``tests/unit/test_wire_raw.py``):

- ``cavro``, the default where it is installed: for the views' records it encodes in about half
  fastavro's time and decodes change events in about half (``bench/avro_codecs.py``); it refuses
  an out-of-range int or a bool for an int, which fastavro writes;
- ``fastavro``, where cavro has no wheel (ARM machines; pyproject installs it on x86-64 only).

Both classes raise :class:`~.wire.SerializationError` naming the subject or schema ID for a value
that does not fit or bytes that do not decode, and let :class:`RegistryError` through.
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal, Protocol

import fastavro

from .registry_client import RegistryClient
from .wire import SerializationError, SubjectEncoder, name_branches, record_branches, schema_id

try:
    import cavro
except ImportError:  # no wheel for this machine: fastavro does the same work
    cavro = None

Backend = Literal["cavro", "fastavro"]
DEFAULT: Backend = "cavro" if cavro is not None else "fastavro"
"""The library the streams use on this machine."""

_ENCODE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, OverflowError)
_DECODE_ERRORS = (ValueError, EOFError, IndexError, UnicodeDecodeError, OverflowError)


class Compiled(Protocol):
    """A schema made ready to encode and decode bare Avro binary (no framing)."""

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class _Cavro:
    def __init__(self, schema: dict[str, Any] | list[Any] | str) -> None:
        options = cavro.Options(
            record_can_encode_dict=True,
            record_decodes_to_dict=True,
            missing_values_can_be_null=True,  # an absent optional field is null, as fastavro writes it
        )
        self._schema = cavro.Schema(json.dumps(plain(schema)), options=options)

    def encode(self, value: Any) -> bytes:
        encoded: bytes = self._schema.binary_encode(value)
        return encoded

    def decode(self, data: bytes) -> Any:
        return self._schema.binary_decode(data)


class _Fastavro:
    def __init__(self, schema: dict[str, Any] | list[Any] | str) -> None:
        self._parsed = fastavro.parse_schema(plain(schema))
        self._branches = record_branches(schema)

    def encode(self, value: Any) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self._parsed, name_branches(value, self._branches))
        return buf.getvalue()

    def decode(self, data: bytes) -> Any:
        return fastavro.schemaless_reader(io.BytesIO(data), self._parsed, None)


def compile_raw(schema: dict[str, Any] | list[Any] | str, backend: Backend = DEFAULT) -> Compiled:
    """``schema`` with its logical types left out, ready on ``backend``."""
    if backend == "cavro":
        if cavro is None:
            raise RuntimeError("cavro is not installed on this machine; use backend='fastavro'")
        return _Cavro(schema)
    return _Fastavro(schema)


def plain(node: Any) -> Any:
    """``node`` without its logical types."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


class RawEncoder(SubjectEncoder):
    """Encodes values of one schema under one subject; registers the schema on first use."""

    def __init__(
        self,
        registry: RegistryClient,
        subject: str,
        schema: dict[str, Any] | str,
        backend: Backend = DEFAULT,
    ) -> None:
        super().__init__(registry, subject, schema)
        self._compiled = compile_raw(schema, backend)

    def __call__(self, value: Any) -> bytes:
        header = self.header()
        try:
            return header + self._compiled.encode(value)
        except _ENCODE_ERRORS as exc:
            raise SerializationError(f"record does not fit {self.subject}: {exc}") from exc


class RawDecoder:
    """Decodes any Confluent-framed Avro value, fetching writer schemas by ID (cached)."""

    def __init__(self, registry: RegistryClient, backend: Backend = DEFAULT) -> None:
        self._registry = registry
        self._backend = backend
        self._compiled: dict[int, Compiled] = {}

    def __call__(self, data: bytes) -> Any:
        sid = schema_id(data)
        compiled = self._compiled.get(sid)
        if compiled is None:
            compiled = self._compiled[sid] = compile_raw(self._registry.schema(sid), self._backend)
        try:
            return compiled.decode(data[5:])
        except _DECODE_ERRORS as exc:
            raise SerializationError(f"bytes do not decode with schema {sid}: {exc}") from exc
