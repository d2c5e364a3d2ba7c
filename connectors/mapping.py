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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from civicbus.schemas.standards import InvalidValue, dates

from .transforms import TRANSFORMS


class RuleLike(Protocol):
    """What the mapper reads of a field rule (config.FieldRule's fields)."""

    @property
    def column(self) -> str | None: ...
    @property
    def const(self) -> Any: ...
    @property
    def transform(self) -> str | None: ...
    @property
    def codes(self) -> dict[str, str] | None: ...
    @property
    def on_invalid(self) -> str: ...


class Rule(NamedTuple):
    """A field rule as plain data: what an encode worker receives (it imports no pydantic)."""

    column: str | None
    const: Any
    transform: str | None
    codes: dict[str, str] | None
    on_invalid: str

    @classmethod
    def of(cls, rule: RuleLike) -> Rule:
        return cls(rule.column, rule.const, rule.transform, rule.codes, rule.on_invalid)


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
        self, rules: Mapping[str, RuleLike], schema: Mapping[str, Any], zone: dt.tzinfo = dt.UTC
    ) -> None:
        fields = {f["name"]: f for f in schema["fields"]}
        problems = [f"mapping.{n}: no such field in {schema['name']}" for n in rules if n not in fields]
        problems += [
            f"mapping.{n}: unknown transform {r.transform!r} (known: {sorted(TRANSFORMS)})"
            for n, r in rules.items()
            if r.transform and r.transform not in TRANSFORMS
        ]
        steps: list[_Step] = []
        for name, field in fields.items():
            try:
                coerce, nullable = _coercer(field["type"], zone)
            except ValueError as exc:
                problems.append(f"mapping.{name}: {exc}")
                continue
            if name in rules:
                if rules[name].on_invalid == "flag" and not nullable:
                    problems.append(f"mapping.{name}: on_invalid: flag needs a nullable field")
                steps.append((name, rules[name], coerce, nullable))
            elif not nullable and "default" not in field:
                problems.append(f"mapping.{name}: required by {schema['name']} but not mapped")
        if problems:
            raise ValueError("; ".join(problems))
        self.columns = sorted({r.column for r in rules.values() if r.column})
        self._map = _compile(steps)
        self._map_values = _compile(steps, self.columns)

    def __call__(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """(canonical record, quality flags as 'field: reason')."""
        return self._map(row)

    def values(self, values: Sequence[Any]) -> tuple[dict[str, Any], list[str]]:
        """As calling it with a row, for the values of :attr:`columns` in that order (what an
        encode worker is sent: it need not rebuild each row's dict)."""
        return self._map_values(values)


_Step = tuple[str, RuleLike, Coerce, bool]


def _compile(
    steps: list[_Step], positions: Sequence[str] | None = None
) -> Callable[[Any], tuple[dict[str, Any], list[str]]]:
    """One function applying ``steps`` (name, rule, coerce, nullable) to a row, the steps written
    out in line as ``dataclasses`` writes ``__init__``: a loop reading each rule per row cost as
    much as the conversions themselves. Only names bound in its namespace appear in the source
    (no column name, constant or code is spliced into it). With ``positions`` (column names) it
    takes a sequence of those columns' values instead of a mapping."""
    ns: dict[str, Any] = {"InvalidValue": InvalidValue, "MappingError": MappingError}
    body = ["    get = row.get" if positions is None else "    get = row.__getitem__", "    flags = []"]
    for i, (name, rule, coerce, nullable) in enumerate(steps):
        ns[f"name_{i}"], ns[f"coerce_{i}"] = name, coerce
        if rule.column:
            ns[f"column_{i}"] = rule.column if positions is None else positions.index(rule.column)
            body.append(f"    v = get(column_{i})")
        else:
            ns[f"const_{i}"] = rule.const
            body.append(f"    v = const_{i}")
        body += [
            "    if isinstance(v, str) and not v.strip():",
            "        v = None",
            "    if v is not None:",
            "        try:",
        ]
        if rule.codes is not None:
            ns[f"codes_{i}"] = rule.codes
            body += [
                f"            if (k := str(v).strip()) not in codes_{i}:",
                "                raise InvalidValue(f'{v!r} is not in the code table')",
                f"            v = codes_{i}[k]",
            ]
        if rule.transform:
            ns[f"transform_{i}"] = TRANSFORMS[rule.transform]
            body.append(f"            v = transform_{i}(v)")
        body += [f"            v = coerce_{i}(v)", "        except InvalidValue as exc:"]
        if rule.on_invalid == "dead_letter":
            body.append(f"            raise MappingError(name_{i}, str(exc)) from None")
        else:
            body += [f"            flags.append(f'{{name_{i}}}: {{exc}}')", "            v = None"]
        if not nullable:
            body += [
                "    if v is None:",
                f"        raise MappingError(name_{i}, 'is required but the source value is null or blank')",
            ]
        body.append(f"    f_{i} = v")
    fields = ", ".join(f"name_{i}: f_{i}" for i in range(len(steps)))
    source = "\n".join(["def map_row(row):", *body, f"    return {{{fields}}}, flags"])
    exec(compile(source, "<civicbus mapping>", "exec"), ns)
    function: Callable[[Any], tuple[dict[str, Any], list[str]]] = ns["map_row"]
    return function
