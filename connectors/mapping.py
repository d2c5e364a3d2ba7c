"""Turn a source row into a canonical record, or say exactly which field failed and why.

The mapper is built once per connector from its YAML rules and the canonical schema. Building it
checks the rules against the schema (unknown field, required field unmapped, unknown transform);
calling it per row never raises anything but :class:`MappingError`.

An invalid value either fails the row (``on_invalid: dead_letter``, the default) or, with
``on_invalid: flag`` on a nullable field, becomes null and is reported in the returned flags.

Per field, in order: take the column (or constant); a blank string counts as null; apply the
code table, then the named transform; coerce to the Avro type (string, int/long, double,
boolean, date, timestamp-millis, decimal with its scale, enum symbol); null where the type does
not allow it is an error.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping
from typing import Any

from civicbus.schemas.standards import InvalidValue, dates

from .config import FieldRule
from .transforms import TRANSFORMS


class MappingError(ValueError):
    """A row could not be mapped; ``field`` is the canonical field, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


Coerce = Callable[[Any], Any]


def _decimal(scale: int, precision: int) -> Coerce:
    quantum = decimal.Decimal(1).scaleb(-scale)

    def coerce(v: Any) -> decimal.Decimal:
        try:
            d = decimal.Decimal(str(v).strip().replace(",", "")).quantize(quantum)
        except decimal.InvalidOperation:
            raise InvalidValue(f"{v!r} is not a decimal number") from None
        if len(d.as_tuple().digits) > precision:
            raise InvalidValue(f"{v!r} exceeds precision {precision}")
        return d

    return coerce


def _int(v: Any) -> int:
    if isinstance(v, bool):
        raise InvalidValue(f"{v!r} is not an integer")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise InvalidValue(f"{v!r} is not an integer") from None
    if not f.is_integer():
        raise InvalidValue(f"{v!r} is not an integer")
    return int(f)


def _timestamp(zone: dt.tzinfo) -> Coerce:
    """Timestamps without a zone are in ``zone``, the source's local time."""

    def coerce(v: Any) -> dt.datetime:
        if isinstance(v, dt.datetime):
            parsed = v
        else:
            try:
                parsed = dt.datetime.fromisoformat(str(v).strip())
            except ValueError:
                raise InvalidValue(f"{v!r} is not a timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)

    return coerce


def _enum(symbols: list[str]) -> Coerce:
    def coerce(v: Any) -> str:
        if v not in symbols:
            raise InvalidValue(f"{v!r} is not one of {symbols}")
        return str(v)

    return coerce


def _bool(v: Any) -> bool:
    text = str(v).strip().lower()
    if text in ("1", "true", "t", "y", "yes", "是"):
        return True
    if text in ("0", "false", "f", "n", "no", "否"):
        return False
    raise InvalidValue(f"{v!r} is not a boolean")


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise InvalidValue(f"{v!r} is not a number") from None


def _coercer(avro_type: Any, zone: dt.tzinfo) -> tuple[Coerce, bool]:
    """(coerce, nullable) for an Avro field type."""
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        if len(branches) != 1:
            raise ValueError(f"unions other than [null, T] are not mappable: {avro_type}")
        return _coercer(branches[0], zone)[0], "null" in avro_type
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical == "date":
            return dates.parse, False
        if logical in ("timestamp-millis", "timestamp-micros"):
            return _timestamp(zone), False
        if logical == "decimal":
            return _decimal(int(avro_type.get("scale", 0)), int(avro_type["precision"])), False
        if avro_type["type"] == "enum":
            return _enum(list(avro_type["symbols"])), False
        return _coercer(avro_type["type"], zone)
    simple: dict[str, Coerce] = {
        "string": str,
        "int": _int,
        "long": _int,
        "double": _float,
        "float": _float,
        "boolean": _bool,
    }
    if avro_type not in simple:
        raise ValueError(f"Avro type {avro_type!r} is not mappable from a column")
    return simple[avro_type], False


class Mapper:
    """Maps rows to records of one canonical schema; construction validates the rules."""

    def __init__(
        self, rules: Mapping[str, FieldRule], schema: Mapping[str, Any], zone: dt.tzinfo = dt.UTC
    ) -> None:
        fields = {f["name"]: f for f in schema["fields"]}
        problems = [f"mapping.{n}: no such field in {schema['name']}" for n in rules if n not in fields]
        problems += [
            f"mapping.{n}: unknown transform {r.transform!r} (known: {sorted(TRANSFORMS)})"
            for n, r in rules.items()
            if r.transform and r.transform not in TRANSFORMS
        ]
        self._steps: list[tuple[str, FieldRule, Coerce, bool]] = []
        for name, field in fields.items():
            try:
                coerce, nullable = _coercer(field["type"], zone)
            except ValueError as exc:
                problems.append(f"mapping.{name}: {exc}")
                continue
            if name in rules:
                if rules[name].on_invalid == "flag" and not nullable:
                    problems.append(f"mapping.{name}: on_invalid: flag needs a nullable field")
                self._steps.append((name, rules[name], coerce, nullable))
            elif not nullable and "default" not in field:
                problems.append(f"mapping.{name}: required by {schema['name']} but not mapped")
        if problems:
            raise ValueError("; ".join(problems))
        self.columns = sorted({r.column for r in rules.values() if r.column})

    def __call__(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """(canonical record, quality flags as 'field: reason')."""
        record: dict[str, Any] = {}
        flags: list[str] = []
        for name, rule, coerce, nullable in self._steps:
            value = row.get(rule.column) if rule.column else rule.const
            if isinstance(value, str) and not value.strip():
                value = None
            try:
                if value is not None:
                    if rule.codes is not None:
                        key = str(value).strip()
                        if key not in rule.codes:
                            raise InvalidValue(f"{value!r} is not in the code table")
                        value = rule.codes[key]
                    if rule.transform:
                        value = TRANSFORMS[rule.transform](value)
                    value = coerce(value)
            except InvalidValue as exc:
                if rule.on_invalid == "dead_letter":
                    raise MappingError(name, str(exc)) from None
                flags.append(f"{name}: {exc}")
                value = None
            if value is None and not nullable:
                raise MappingError(name, "is required but the source value is null or blank")
            record[name] = value
        return record, flags
