"""Fold departments' change events into a view's state, and render the view's record from it.

A view key's state holds, per source (under its ``ident``: its department, or its ``id``) and
per source row (``element``: the row's own key, or ""
when a source gives one row per view key), the newest version of that row seen and the row
itself, or None once the row is gone. A version is (source commit time, Kafka offset):

- an event at or below the version held changes nothing, so a replayed event and an older event
  arriving after a newer one are both no-ops, and the fold gives the same state whatever order a
  row's events arrive in;
- a deleted row keeps its version, so an older update arriving late cannot bring it back.

:func:`render` derives everything else from the state alone: each scalar field from the most
authoritative department that has a value (and that department beside it, in ``sources``),
collections sorted by their elements' keys, whole rows, the disagreements (structured, and as
one line each in ``discrepancies``), ``closed``, derived fields, and
``updated_ms`` (the newest version's time, never the wall clock). So rendering is deterministic:
the same state always gives the same record.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from .functions import EPOCH
from .spec import ViewSpec

State = dict[str, Any]
Version = tuple[int, int]


@dataclass(frozen=True)
class Change:
    """One source event as the fold sees it."""

    source: int
    """The source's index in the view's ``sources``."""
    ident: str
    """The source's name in the state (:attr:`Source.ident`)."""
    key: str
    """The view key the event belongs to."""
    element: str
    version: Version
    row: dict[str, Any] | None
    """The row after the change; None when the row is gone."""


def change(
    spec: ViewSpec,
    index: int,
    envelope: dict[str, Any],
    offset: int,
    moved_from: str | None = None,
    sent_to: str | None = None,
) -> Change:
    """The change a decoded envelope makes; raises ValueError for one that names no view key.

    ``moved_from`` names the view key a re-keyed row left (the row it follows moved): the change
    then removes the row from that key, at the event's version. ``sent_to`` is the view key the
    re-keying sent the event to, for a source whose rows do not name it (``via``)."""
    source = spec.sources[index]
    after = envelope.get("after") if envelope.get("op") != "d" else None
    row = after if after is not None else envelope.get("before")
    if row is None:
        raise ValueError("the event has neither 'after' nor 'before': it names no row")
    if moved_from is not None:
        after = None
    key = (
        moved_from
        if moved_from is not None
        else sent_to
        if sent_to is not None
        else row.get(source.key or "")
    )
    if key is None or key == "":
        raise ValueError(f"the row has no {source.key!r}, the view's key")
    element = ""
    if source.collection is not None:
        ident = row.get(source.collection.id)
        if ident is None:
            raise ValueError(f"the row has no {source.collection.id!r}, its own key")
        element = str(ident)
    when = _epoch_ms(envelope.get("source_ts_ms")) or _epoch_ms(envelope.get("ts_ms"))
    return Change(index, source.ident, str(key), element, (when, offset), after)


class Outcome(enum.Enum):
    NEWER = "newer"
    """Applied: the state changed."""
    SAME = "same"
    """The very event the state already holds (a replay after a crash or a rebalance)."""
    OLDER = "older"
    """Older than what the state holds for the row: ignored."""


def apply(state: State, ch: Change) -> Outcome:
    """Record ``ch`` if it is newer than the row's version in ``state``; only NEWER changes ``state``."""
    rows = state.setdefault(ch.ident, {})
    held = rows.get(ch.element)
    if held is not None:
        version = tuple(held["v"])
        if version == ch.version:
            return Outcome.SAME
        if version > ch.version:
            return Outcome.OLDER
    rows[ch.element] = {"v": list(ch.version), "r": ch.row}
    return Outcome.NEWER


def upgrade(spec: ViewSpec, state: State) -> State:
    """A state written before sources were kept by name (under their position, "0", "1", …)
    with its rows moved under the names of the sources now at those positions."""
    for key in [k for k in state if k.isdigit()]:
        if int(key) < len(spec.sources):
            state.setdefault(spec.sources[int(key)].ident, state.pop(key))
    return state


def render(spec: ViewSpec, key: str, state: State) -> dict[str, Any] | None:
    """The view's record for ``key``; None when no source holds a row for it any more."""
    out: dict[str, Any] = {spec.key: key}
    offers: dict[str, list[tuple[str, Any]]] = {}
    departments: set[str] = set()
    closed_by: str | None = None
    newest = 0
    for ident, department, row_into, into, fields, closes in spec.plan:
        held_rows = state.get(ident)
        live: list[tuple[int, str, dict[str, Any]]] = []  # (-time, element, row): newest first
        if held_rows:
            for element, held in held_rows.items():
                when = held["v"][0]
                if when > newest:
                    newest = when
                if held["r"] is not None:
                    live.append((-when, element, held["r"]))
            if len(live) > 1:
                live.sort(key=_newest_first)
        if row_into is not None:
            out[row_into] = live[0][2] if live else None
        if into is not None:
            out.setdefault(into, []).extend(r for _, _, r in sorted(live, key=_element))
        if not live:
            continue
        departments.add(department)
        for _, _, row in live:
            for target, origin in fields:
                value = row.get(origin)
                if value is not None:
                    offered = offers.get(target)
                    if offered is None:
                        offers[target] = [(department, value)]
                    else:
                        offered.append((department, value))
            if closed_by is None and closes is not None and row.get(closes) is not None:
                closed_by = department
    if not departments:
        return None
    winners: dict[str, str] = {}
    ranks = spec.ranks
    for target, offered in offers.items():
        if len(offered) == 1:
            department, value = offered[0]
        else:
            rank = ranks[target]
            department, value = min(offered, key=lambda o: rank[o[0]])
        out[target], winners[target] = value, department
    out["sources"] = dict(sorted(winners.items()))
    out["departments"] = sorted(departments)
    disagreements = _disagreements(spec, offers)
    out["disagreements"] = disagreements
    out["discrepancies"] = [
        f"{d['field']}: " + " ".join(f"{'/'.join(v['departments'])}={v['value']}" for v in d["values"])
        for d in disagreements
    ]
    if spec.closable:
        out["closed"] = closed_by is not None
        out["closed_by"] = closed_by
    out["updated_ms"] = newest
    for target, function, args in spec.derivations:
        out[target] = function(*[out.get(a) for a in args], as_of_ms=newest)
    return out


def _newest_first(held: tuple[int, str, Any]) -> tuple[int, str]:
    return held[0], held[1]


def _element(held: tuple[int, str, Any]) -> str:
    return held[1]


def _disagreements(spec: ViewSpec, offers: dict[str, list[tuple[str, Any]]]) -> list[dict[str, Any]]:
    """Fields on which departments give different values: each value with who gives it, the
    value of the most authoritative department first."""
    found = []
    for target in spec.discrepancies:
        offered = offers.get(target)
        if offered is None or len(offered) < 2:
            continue
        given: dict[str, set[str]] = {}
        is_date = target in spec.date_fields
        for department, value in offered:
            given.setdefault(_text(value, is_date), set()).add(department)
        if len(given) > 1:
            rank = spec.ranks[target]
            values = [
                {"value": v, "departments": sorted(d, key=rank.__getitem__)}
                for v, d in sorted(given.items(), key=lambda vd: (min(map(rank.__getitem__, vd[1])), vd[0]))
            ]
            found.append({"field": target, "values": values})
    return found


def _text(value: Any, is_date: bool = False) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if is_date and isinstance(value, int):  # days since 1970, as Avro stores a date
        return (EPOCH + dt.timedelta(days=value)).isoformat()
    return str(value)


def _epoch_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return int(value or 0)
