"""What a field of a canonical record holds, as far as sharing it is concerned.

A projection protects a *scalar* value (a string, a number, a date, a flag) with a display mask
or a keyed pseudonym. A record, array or map holds further fields with their own sensitivities;
protecting those inside is not built, so a grant may name such a field only when it is not
sensitive at all (``sources``, ``departments``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

SCALARS = frozenset({"string", "int", "long", "float", "double", "boolean"})
EPOCH = dt.date(1970, 1, 1)


def base(avro_type: Any) -> Any:
    """The type of a field with its ``null`` branch removed (a union of one other type)."""
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        return rest[0] if len(rest) == 1 else rest
    return avro_type


def scalar(avro_type: Any) -> str | None:
    """``string``, ``int``, ``date``, ``timestamp-millis``, ``boolean`` …, or None for a composite."""
    kind = base(avro_type)
    if isinstance(kind, str):
        return kind if kind in SCALARS else None
    if isinstance(kind, dict) and kind.get("type") in SCALARS:
        return str(kind.get("logicalType") or kind["type"])
    return None


def display(value: Any, kind: str) -> str:
    """A scalar as text, as a reader would write it (a date ``1950-03-01``, not ``-7246``)."""
    if kind == "date" and isinstance(value, int):
        return (EPOCH + dt.timedelta(days=value)).isoformat()
    if kind == "timestamp-millis" and isinstance(value, int):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat(timespec="seconds")
    return str(value)
