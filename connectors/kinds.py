"""Connector types, found through the ``civicbus.sources`` entry point group.

civicbus registers its own (``sql``, ``spreadsheet``, ``pgoutput``, ``binlog``) in pyproject.toml;
an integrator's package registers more the same way, and a connector file chooses one with
``source: {type: NAME}``. Only the types a process's connectors name are imported: a log
connector does not load the drivers of the others (16 MB for the other three).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from .base import Source

GROUP = "civicbus.sources"


@cache
def _registered() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


@cache
def source_type(name: str) -> type[Source]:
    """The class of source type ``name`` (imported on first use); ValueError naming the known
    types when there is none, TypeError when its entry point is not a Source."""
    registered = _registered()
    if name not in registered:
        raise ValueError(f"unknown source type {name!r}; known: {', '.join(sorted(registered))}")
    ep = registered[name]
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise TypeError(f"entry point {ep.name} = {ep.value} is not a connectors.base.Source")
    return cls
