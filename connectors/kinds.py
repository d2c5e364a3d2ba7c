"""Connector types, found through the ``civicbus.sources`` entry point group.

civicbus registers its own (``sql``, ``spreadsheet``) in pyproject.toml; an integrator's package
registers more the same way, and a connector file chooses one with ``source: {type: NAME}``.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from .base import Source

GROUP = "civicbus.sources"


@cache
def source_types() -> dict[str, type[Source]]:
    found: dict[str, type[Source]] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Source)):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not a connectors.base.Source")
        found[ep.name] = cls
    return found


def source_type(name: str) -> type[Source]:
    """The class of source type ``name``; ValueError naming the known types otherwise."""
    types = source_types()
    if name not in types:
        raise ValueError(f"unknown source type {name!r}; known: {', '.join(sorted(types))}")
    return types[name]
