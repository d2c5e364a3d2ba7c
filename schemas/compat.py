"""Schema compatibility, decided by Apache avro's ReaderWriterCompatibilityChecker.

The modes mean what they mean in Confluent Schema Registry: BACKWARD, the new schema reads data
written with the old; FORWARD, the old reads the new; FULL, both. Plain modes compare with the
latest version only; ``_TRANSITIVE`` modes compare with every earlier version, since checking
only the latest lets a chain of small changes break old data.
"""

from __future__ import annotations

from typing import Literal, get_args

from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
)
from avro.schema import ArraySchema, MapSchema, NamedSchema, RecordSchema, Schema, UnionSchema

Mode = Literal[
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
]
MODES: tuple[str, ...] = get_args(Mode)


def _named(schema: Schema, found: dict[str, NamedSchema] | None = None) -> dict[str, NamedSchema]:
    """Every named type inside ``schema`` by full name."""
    found = {} if found is None else found
    if isinstance(schema, NamedSchema):
        if schema.fullname in found:
            return found
        found[schema.fullname] = schema
    if isinstance(schema, RecordSchema):
        for f in schema.fields:
            _named(f.type, found)
    elif isinstance(schema, UnionSchema):
        for branch in schema.schemas:
            _named(branch, found)
    elif isinstance(schema, ArraySchema):
        _named(schema.items, found)
    elif isinstance(schema, MapSchema):
        _named(schema.values, found)
    return found


def _result(reader: Schema, writer: Schema) -> object:
    return ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)  # type: ignore[no-untyped-call]


def _describe(result: object, prefix: str = "") -> str:
    kinds = ", ".join(sorted(i.value for i in result.incompatibilities))  # type: ignore[attr-defined]
    where = ", ".join(sorted(result.locations))  # type: ignore[attr-defined]
    what = ", ".join(sorted(str(m) for m in result.messages))  # type: ignore[attr-defined]
    return f"{prefix}{kinds} at {where} ({what})"


def _problems(reader: Schema, writer: Schema, rule: str) -> list[str]:
    result = _result(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:  # type: ignore[attr-defined]
        return []
    if SchemaIncompatibilityType.missing_union_branch in result.incompatibilities:  # type: ignore[attr-defined]
        # a record inside a union changed: the checker only says the branch is gone, so compare
        # each named record present on both sides to name the field and the rule it breaks
        readers, writers = _named(reader), _named(writer)
        nested = []
        for name in sorted(readers.keys() & writers.keys()):
            inner = _result(readers[name], writers[name])
            if inner.compatibility is not SchemaCompatibilityType.compatible:  # type: ignore[attr-defined]
                nested.append(f"{rule}: {_describe(inner, f'{name}: ')}")
        if nested:
            return nested
    return [f"{rule}: {_describe(result)}"]


def check(candidate: Schema, previous: list[Schema], mode: str) -> list[str]:
    """Why ``candidate`` may not follow ``previous`` (oldest first) under ``mode``; [] if it may."""
    if mode == "NONE" or not previous:
        return []
    against = previous if mode.endswith("_TRANSITIVE") else previous[-1:]
    base = mode.removesuffix("_TRANSITIVE")
    problems: list[str] = []
    for old in against:
        if base in ("BACKWARD", "FULL"):
            problems += _problems(candidate, old, "new schema cannot read old data")
        if base in ("FORWARD", "FULL"):
            problems += _problems(old, candidate, "old schema cannot read new data")
    return problems
