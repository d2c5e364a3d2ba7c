"""Schema compatibility, decided by Apache avro's ReaderWriterCompatibilityChecker.

The modes mean what they mean in Confluent Schema Registry: BACKWARD, the new schema reads data
written with the old; FORWARD, the old reads the new; FULL, both. Plain modes compare with the
latest version only; ``_TRANSITIVE`` modes compare with every earlier version, since checking
only the latest lets a chain of small changes break old data.
"""

from __future__ import annotations

from typing import Literal, get_args

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import Schema

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


def _problems(reader: Schema, writer: Schema, rule: str) -> list[str]:
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)  # type: ignore[no-untyped-call]
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted(i.value for i in result.incompatibilities))
    where = ", ".join(sorted(result.locations))
    what = ", ".join(sorted(str(m) for m in result.messages))
    return [f"{rule}: {kinds} at {where} ({what})"]


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
