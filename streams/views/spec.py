"""A unified view declared in one YAML file: its key, its record, and what each department gives.

An integrator adds a department to a view, or a new view, by editing YAML; no code. A file::

    name: resident-profile                 # the view's name (its table and group names derive from it)
    key: id_number                         # the view record's key field
    topic: civicbus.view.resident-profile  # where the view is written (compacted)
    record: ResidentProfile                # its canonical record, in schemas/avro
    sources:
      - department: 公安
        topic: civicbus.gongan.resident
        record: Resident                   # the canonical record the topic carries
        key: id_number                     # the field of that record holding the view's key
        fields: {name: name, birth_date: birth_date}   # view field: source field
      - department: 民政
        topic: civicbus.minzheng.subsidy
        record: Subsidy
        key: id_number
        fields: {name: name}
        collection: {into: subsidies, id: subsidy_id}  # one element per source row, by its own key
    authority:                             # who wins a field, first to last
      name: [公安, 民政]
    discrepancies: [name]                  # fields on which disagreement is listed
    derived:
      age: {function: age, args: [birth_date]}

A source whose topic is keyed by another field than the view's key names it in ``keyed_by``;
the worker re-keys it through a co-partitioned repartition topic. A source whose rows name no
view key at all says ``via: <another re-keyed source>`` instead of ``key``: its rows go where
that source's row with the same topic key is, and move with it. ``closes`` names a field whose
value, when a source contributes it, closes the view (a death registration).

:func:`load` parses a file and raises :class:`ViewError` listing every problem in it at once,
shape and meaning alike (unknown record, field or department, type mismatches).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import Field, ValidationError

from civicbus.core.files import FileProblems, Strict, described
from civicbus.schemas import model

from .functions import FUNCTIONS, Function

NAME = r"^[a-z][a-z0-9-]*$"


class ViewError(FileProblems):
    """A view file that cannot run."""


class Collection(Strict):
    into: str = Field(description="the view's array field that holds one element per source row")
    id: str = Field(description="the source field that identifies a row (its own key)")


class Derived(Strict):
    function: str
    args: list[str] = Field(default_factory=list)


class Source(Strict):
    id: str | None = Field(
        None,
        pattern=r"^[^0-9]",
        description="names the source's part of each key's state; default: its department. Give one "
        "when a view has two sources of one department",
    )
    department: str = Field(min_length=1)
    topic: str = Field(min_length=1)
    record: str
    key: str | None = Field(None, description="the field holding the view's key; not with via")
    keyed_by: str | None = None
    via: str | None = Field(
        None,
        description="another source (its department or id), re-keyed, whose row with the same topic key "
        "says which view key this source's rows belong to",
    )
    fields: dict[str, str] = Field(default_factory=dict)
    row: str | None = Field(None, description="a view field that receives the source's whole row")
    collection: Collection | None = None
    closes: str | None = None

    @property
    def ident(self) -> str:
        """The name this source's rows are kept under in a key's state; stable when sources are
        added or reordered."""
        return self.id or self.department

    @property
    def rekeyed(self) -> bool:
        """True when the worker re-keys the topic: it is keyed by another field than the view's
        key, or its rows follow another source ``via``."""
        return self.via is not None or (self.keyed_by is not None and self.keyed_by != self.key)


class SourcePlan(NamedTuple):
    """A source as the render reads it, for every record it renders."""

    ident: str
    department: str
    row: str | None
    into: str | None
    """The collection's view field, if the source is a collection."""
    fields: tuple[tuple[str, str], ...]
    """(view field, source field) pairs."""
    closes: str | None


class ViewSpec(Strict):
    name: str = Field(pattern=NAME)
    key: str
    topic: str = Field(min_length=1)
    dead_letters: str | None = Field(None, description="default: civicbus.deadletter.<name>")
    record: str
    sources: list[Source] = Field(min_length=1)
    authority: dict[str, list[str]] = Field(default_factory=dict)
    discrepancies: list[str] = Field(default_factory=list)
    derived: dict[str, Derived] = Field(default_factory=dict)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> ViewSpec:
        """A copy with ``update`` applied, computing again what the spec computes once (pydantic
        would copy those values with the fields, stale for the new ones)."""
        copy = super().model_copy(update=update, deep=deep)
        for name, attribute in vars(ViewSpec).items():
            if isinstance(attribute, cached_property):
                copy.__dict__.pop(name, None)
        return copy

    @property
    def dead_letter_topic(self) -> str:
        return self.dead_letters or f"civicbus.deadletter.{self.name}"

    def departments(self) -> list[str]:
        return list(dict.fromkeys(s.department for s in self.sources))

    def ranking(self, view_field: str) -> list[str]:
        """Departments in order of authority over ``view_field``; unlisted ones follow in file order."""
        ranked = list(self.authority.get(view_field, []))
        return ranked + [d for d in self.departments() if d not in ranked]

    @cached_property
    def ranks(self) -> dict[str, dict[str, int]]:
        """Each department's place in the ranking of each field a source fills (0: first); the
        fold reads it for every event, so it is computed once."""
        fields = {f for s in self.sources for f in s.fields}
        return {f: {d: i for i, d in enumerate(self.ranking(f))} for f in fields}

    @cached_property
    def date_fields(self) -> frozenset[str]:
        """The view record's fields holding a date (Avro ``int`` with logical type ``date``); none
        for a record outside the canonical model (a test's)."""
        try:
            fields = _fields(model.schema(self.record))
        except KeyError:
            return frozenset()
        return frozenset(name for name, node in fields.items() if _base(node) == ("int", "date"))

    @cached_property
    def plan(self) -> tuple[SourcePlan, ...]:
        """What the render reads of each source, taken from the spec once."""
        return tuple(
            SourcePlan(
                s.ident,
                s.department,
                s.row,
                s.collection.into if s.collection is not None else None,
                tuple(s.fields.items()),
                s.closes,
            )
            for s in self.sources
        )

    @cached_property
    def derivations(self) -> tuple[tuple[str, Function, tuple[str, ...]], ...]:
        """Each derived field with its function and argument fields, in the file's order."""
        return tuple(
            (target, FUNCTIONS[rule.function], tuple(rule.args)) for target, rule in self.derived.items()
        )

    @cached_property
    def closable(self) -> bool:
        """True when some source closes the view (its record then has ``closed`` and ``closed_by``)."""
        return any(s.closes for s in self.sources)


def load(path: str | Path) -> ViewSpec:
    """The view in ``path``; raises ViewError with every problem found."""
    where = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ViewError(where, [f"cannot read: {exc}"]) from None
    try:
        spec = ViewSpec.model_validate(raw)
    except ValidationError as exc:
        raise ViewError(where, described(exc)) from None
    problems = check(spec)
    if problems:
        raise ViewError(where, problems)
    return spec


def check(spec: ViewSpec, known: model.Catalog | None = None) -> list[str]:
    """Every problem of meaning in ``spec`` against the canonical records; [] if it can run."""
    problems: list[str] = []
    view = _record(spec.record, "record", problems, known)
    if view is None:
        return problems
    view_fields = _fields(view)
    if spec.key not in view_fields:
        problems.append(f"key: the record {spec.record} has no field {spec.key!r}")
    produced: set[str] = {spec.key, *_BOOKKEEPING}
    for i, source in enumerate(spec.sources):
        place = f"sources.{i} ({source.department})"
        record = _record(source.record, f"{place}.record", problems, known)
        if record is None:
            continue
        source_fields = _fields(record)
        for name in (source.key, source.keyed_by, source.closes):
            if name is not None and name not in source_fields:
                problems.append(f"{place}: the record {source.record} has no field {name!r}")
        problems.extend(_via(spec, source, place))
        for target, origin in source.fields.items():
            produced.add(target)
            if origin not in source_fields:
                problems.append(
                    f"{place}.fields.{target}: the record {source.record} has no field {origin!r}"
                )
            elif target not in view_fields:
                problems.append(f"{place}.fields.{target}: the record {spec.record} has no field {target!r}")
            elif not _fits(source_fields[origin], view_fields[target]):
                problems.append(
                    f"{place}.fields.{target}: {source.record}.{origin} is {_show(source_fields[origin])}, "
                    f"{spec.record}.{target} is {_show(view_fields[target])}"
                )
        if source.row is not None:
            produced.add(source.row)
            if source.row not in view_fields or not _fits(record, view_fields[source.row]):
                problems.append(f"{place}.row: {spec.record}.{source.row} is not a {source.record} record")
        if source.collection is not None:
            into, ident = source.collection.into, source.collection.id
            produced.add(into)
            if ident not in source_fields:
                problems.append(f"{place}.collection.id: the record {source.record} has no field {ident!r}")
            if into not in view_fields or _array_items(view_fields[into]) is None:
                problems.append(f"{place}.collection.into: {spec.record}.{into} is not an array of records")
        if source.closes is not None:
            produced.update({"closed", "closed_by"})
    idents = [s.ident for s in spec.sources]
    for twice in sorted({i for i in idents if idents.count(i) > 1}):
        problems.append(f"sources: two sources are named {twice!r}: give each an id")
    departments = set(spec.departments())
    for target, ranked in spec.authority.items():
        if target not in produced:
            problems.append(f"authority.{target}: no source contributes {target!r}")
        for dept in ranked:
            if dept not in departments:
                problems.append(f"authority.{target}: {dept} is not one of the view's departments")
    for target in spec.discrepancies:
        if target not in produced:
            problems.append(f"discrepancies: no source contributes {target!r}")
    for target, rule in spec.derived.items():
        if target not in view_fields:
            problems.append(f"derived.{target}: the record {spec.record} has no field {target!r}")
        if rule.function not in FUNCTIONS:
            problems.append(
                f"derived.{target}: unknown function {rule.function!r}; known: {', '.join(FUNCTIONS)}"
            )
        for arg in rule.args:
            if arg not in produced and arg not in spec.derived:
                problems.append(f"derived.{target}: argument {arg!r} is not a field of the view")
        produced.add(target)
    for name, node in view_fields.items():
        if name not in produced and not _nullable(node):
            problems.append(f"record: {spec.record}.{name} is required but nothing fills it")
    return problems


def _via(spec: ViewSpec, source: Source, place: str) -> list[str]:
    """What is wrong with how ``source`` names its view key (``key``, or ``via`` another source)."""
    if source.via is None:
        return (
            [] if source.key is not None else [f"{place}: give key (the field holding the view's key) or via"]
        )
    if source.key is not None:
        return [f"{place}: give key or via, not both"]
    leader = next((s for s in spec.sources if s.ident == source.via), None)
    if leader is None or leader.via is not None or not leader.rekeyed:
        return [f"{place}.via: {source.via} is not a source of this view re-keyed by its own field"]
    if source.keyed_by is None or source.keyed_by != leader.keyed_by:
        return [f"{place}.keyed_by: must name the topic key it shares with {source.via} ({leader.keyed_by})"]
    if source.collection is None and source.row is None:
        return [f"{place}: a source followed via another needs collection or row"]
    return []


_BOOKKEEPING = (
    "sources",
    "departments",
    "discrepancies",
    "disagreements",
    "updated_ms",
    "closed",
    "closed_by",
)


def _record(name: str, place: str, problems: list[str], known: model.Catalog | None) -> dict[str, Any] | None:
    try:
        return model.schema(name, known)
    except KeyError:
        problems.append(f"{place}: no canonical record named {name!r} in schemas/avro")
        return None


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f["type"] for f in record["fields"]}


def _nullable(node: Any) -> bool:
    return isinstance(node, list) and "null" in node


def _base(node: Any) -> Any:
    """The type without its null branch, named types by name, logical types kept."""
    if isinstance(node, list):
        rest = [n for n in node if n != "null"]
        return _base(rest[0]) if len(rest) == 1 else [_base(n) for n in rest]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed"):
            return f"{node.get('namespace', '')}.{node['name']}".lstrip(".")
        if "logicalType" in node:
            return (node["type"], node["logicalType"])
        if node.get("type") in ("array", "map"):
            return (node["type"], _base(node.get("items", node.get("values"))))
        return _base(node["type"])
    return node


def _fits(source: Any, view: Any) -> bool:
    a, b = _base(source), _base(view)
    if isinstance(a, str) and isinstance(b, str) and "." in a and "." in b:
        return a.rsplit(".", 1)[1] == b.rsplit(".", 1)[1]
    return bool(a == b)


def _show(node: Any) -> str:
    base = _base(node)
    if isinstance(base, tuple):
        return "/".join(str(b) for b in base)
    return re.sub(r"^.*\.", "", str(base))


def _array_items(node: Any) -> Any:
    base = node[1] if isinstance(node, list) and len(node) == 2 and "null" in node else node
    if isinstance(base, dict) and base.get("type") == "array" and isinstance(base.get("items"), dict):
        return base["items"]
    return None
