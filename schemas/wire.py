"""Confluent wire format: byte 0 = 0x00, bytes 1-4 = schema ID (big-endian), then Avro binary.

Decoding uses fastavro; encoding uses cavro where it is installed (x86-64 wheels: about half
fastavro's time for a connector's change event, writing the same bytes, bench/avro_codecs.py)
and fastavro elsewhere. The registry assigns and resolves IDs.
A failure is raised as :class:`SerializationError` from the library's error, naming the subject
or schema ID, so a caller can dead-letter the record with a reason.
"""

from __future__ import annotations

import io
import json
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry_client import RegistryClient

try:
    import cavro
except ImportError:  # no wheel for this machine: fastavro encodes
    cavro = None

MAGIC = 0
_HEADER = struct.Struct(">bI")


class SerializationError(ValueError):
    """A record did not fit its schema, or bytes were not a Confluent-framed Avro record."""


class SubjectEncoder:
    """One schema under one subject, registered on first use: the framing every encoder shares."""

    def __init__(
        self,
        registry: RegistryClient | None,
        subject: str,
        schema: dict[str, Any] | str,
        schema_id: int | None = None,
    ) -> None:
        """``schema_id``: the ID the registry already gave this schema (then ``registry`` may be
        None: another process registered it)."""
        if registry is None and schema_id is None:
            raise ValueError(f"{subject}: an encoder needs a registry or the schema's ID")
        self.subject = subject
        self.schema = schema
        self._registry = registry
        self._header: bytes | None = None if schema_id is None else _HEADER.pack(MAGIC, schema_id)

    @property
    def schema_id(self) -> int:
        """The schema's registry ID (registers the schema)."""
        return int(_HEADER.unpack(self.header())[1])

    def register(self) -> None:
        """Register the schema now rather than on first use; raises RegistryError if refused."""
        if self._header is None:
            assert self._registry is not None
            self._header = _HEADER.pack(MAGIC, self._registry.register(self.subject, self.schema))

    def header(self) -> bytes:
        """The 5 bytes framing every value: magic byte and schema ID (registers the schema)."""
        self.register()
        assert self._header is not None
        return self._header


class AvroEncoder(SubjectEncoder):
    """Encodes records of one schema under one subject; registers the schema on first use."""

    def __init__(
        self,
        registry: RegistryClient | None,
        subject: str,
        schema: dict[str, Any] | str,
        fast: bool = True,
        schema_id: int | None = None,
    ) -> None:
        super().__init__(registry, subject, schema, schema_id)
        self._cavro = cavro_schema(schema) if fast else None
        if self._cavro is not None:
            return
        import fastavro  # only where cavro does not encode: a connector and its workers skip it

        self._fastavro = fastavro
        self._parsed = fastavro.parse_schema(schema)
        self._branches = record_branches(schema)

    def __call__(self, record: Any) -> bytes:
        header = self.header()
        if self._cavro is not None:
            try:
                body: bytes = self._cavro.binary_encode(record)
                return header + body
            except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
                raise SerializationError(f"record does not fit {self.subject}: {exc}") from exc
        buf = io.BytesIO()
        buf.write(header)
        try:
            self._fastavro.schemaless_writer(buf, self._parsed, name_branches(record, self._branches))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise SerializationError(f"record does not fit {self.subject}: {exc}") from exc
        return buf.getvalue()


def cavro_schema(schema: Any) -> Any:
    """A cavro encoder of ``schema`` (records may be given as dicts, missing optional fields as
    null); None where cavro is not installed."""
    if cavro is None:
        return None
    options = cavro.Options(record_can_encode_dict=True, missing_values_can_be_null=True)
    return cavro.Schema(json.dumps(schema), options=options)


def name_branches(record: Any, branches: dict[str, str]) -> Any:
    """``record`` with each optional record among ``branches`` (:func:`record_branches`) named
    in fastavro's tuple notation: fastavro otherwise tries each branch by validating the value
    against it, a third of the cost of a view's record."""
    if not branches or not isinstance(record, dict):
        return record
    named = {**record}
    for name, branch in branches.items():
        if isinstance(named.get(name), dict):
            named[name] = (branch, named[name])
    return named


def record_branches(schema: dict[str, Any] | list[Any] | str) -> dict[str, str]:
    """Top-level fields typed ``["null", <a record>]``: field name → the record's full name."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return {}
    found = {}
    for field in schema["fields"]:
        branches = field["type"] if isinstance(field["type"], list) else []
        records = [b for b in branches if isinstance(b, dict) and b.get("type") == "record"]
        if len(branches) == 2 and "null" in branches and len(records) == 1:
            record = records[0]
            namespace = record.get("namespace", schema.get("namespace", ""))
            found[field["name"]] = f"{namespace}.{record['name']}".lstrip(".")
    return found


def schema_id(data: bytes) -> int:
    """The registry ID framed into ``data``; SerializationError if it is not Confluent-framed."""
    if len(data) < 5 or data[0] != MAGIC:
        raise SerializationError("not Confluent-framed Avro (missing magic byte 0)")
    return int(_HEADER.unpack_from(data)[1])


class AvroDecoder:
    """Decodes any Confluent-framed Avro record, fetching writer schemas by ID (cached).

    Values of logical types come back as Python values (dates, datetimes, decimals); the streams
    keep them as Avro stores them (:mod:`.wire_raw`)."""

    def __init__(self, registry: RegistryClient) -> None:
        import fastavro

        self._fastavro = fastavro
        self._registry = registry
        self._parsed: dict[int, Any] = {}

    def __call__(self, data: bytes) -> Any:
        sid = schema_id(data)
        if sid not in self._parsed:
            schema = self._registry.schema(sid)
            self._parsed[sid] = self._fastavro.parse_schema(schema)
        try:
            return self._fastavro.schemaless_reader(io.BytesIO(data[5:]), self._parsed[sid], None)
        except (ValueError, EOFError, IndexError, UnicodeDecodeError) as exc:
            raise SerializationError(f"bytes do not decode with schema {sid}: {exc}") from exc
