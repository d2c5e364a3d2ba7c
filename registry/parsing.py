"""Avro schema text as the registry receives it: parsed through its references, and its identities.

A schema's identity is its text with sorted keys and no whitespace (what civicbus has always
stored, so an existing topic keeps its IDs) plus its references. With ``?normalize=true`` the
identity is instead avro's own re-rendering of the parsed schema: ``{"type": "string"}`` and
``"string"`` are the same, as are a hoisted and an inline namespace, and names imported from
references stay references.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import avro.errors
import avro.name
import avro.schema

from civicbus.schemas.registry_errors import RegistryError

from .records import Reference, Stored

Resolve = Callable[[Reference], Stored]
"""Returns the schema a reference points at, or raises RegistryError."""


def identity(text: str) -> str:
    """The stored form of ``text``: JSON with sorted keys; raises 42201 if not JSON."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise RegistryError(RegistryError.INVALID_SCHEMA, f"Invalid schema: {exc}") from exc
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse(schema: Stored, resolve: Resolve) -> avro.schema.Schema:
    """The parsed schema, its references' named types known; raises 42201 if it is not valid Avro."""
    return _parse(schema, resolve, _imported(schema, resolve))


def normalized(schema: Stored, resolve: Resolve) -> str:
    """The normalized identity of ``schema`` (see the module docstring)."""
    names = _imported(schema, resolve)
    known = avro.name.Names()
    known.names = dict(names.names)
    parsed = _parse(schema, resolve, names)
    rendered = parsed.to_json(known)
    return json.dumps(rendered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parse(schema: Stored, resolve: Resolve, names: avro.name.Names) -> avro.schema.Schema:
    try:
        return avro.schema.make_avsc_object(json.loads(schema.text), names)
    except (ValueError, avro.errors.AvroException) as exc:
        raise RegistryError(RegistryError.INVALID_SCHEMA, f"Invalid schema: {exc}") from exc


def _imported(schema: Stored, resolve: Resolve) -> avro.name.Names:
    """The named types ``schema``'s references define, transitively, each parsed once."""
    names = avro.name.Names()
    seen: set[tuple[str, int]] = set()

    def visit(refs: tuple[Reference, ...], trail: tuple[tuple[str, int], ...]) -> None:
        for ref in refs:
            node = (ref.subject, ref.version)
            if node in trail:
                raise RegistryError(RegistryError.INVALID_SCHEMA, f"Invalid schema: circular reference {ref}")
            if node in seen:
                continue
            seen.add(node)
            target = resolve(ref)
            visit(target.references, (*trail, node))
            _parse(target, resolve, names)

    visit(schema.references, ())
    return names
