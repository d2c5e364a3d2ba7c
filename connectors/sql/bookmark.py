"""Where a SQL capture stands: the values of its ordering columns in the last delivered row.

The ordering is total, so "strictly after the bookmark" never repeats a row and never skips one:
- incrementing: (incrementing_column)
- timestamp: (timestamp_column, *key_columns) — the key breaks ties, so many rows sharing one
  timestamp are never lost across a restart (a known failure of timestamp-only JDBC capture);
- timestamp+incrementing: (timestamp_column, incrementing_column);
- snapshot (and the initial snapshot of the other modes): the key columns, using the primary key.
A bookmark is a JSON list with typed values, so dates, decimals and bytes round-trip exactly.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .settings import SqlSettings


def order_columns(cfg: SqlSettings) -> list[str]:
    if cfg.mode == "snapshot":
        return list(cfg.key_columns)
    if cfg.mode == "incrementing":
        assert cfg.incrementing_column
        return [cfg.incrementing_column]
    assert cfg.timestamp_column
    tie = (
        [cfg.incrementing_column]
        if cfg.incrementing_column and cfg.mode != "timestamp"
        else [c for c in cfg.key_columns if c != cfg.timestamp_column]
    )
    return [cfg.timestamp_column, *tie]


_PLAIN = (int, str, float, bool, type(None))


def encode(values: Sequence[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for v in values:
        if type(v) in _PLAIN:  # the common key (an integer id, a code): no isinstance chain
            out.append({"t": "plain", "v": v})
        elif isinstance(v, dt.datetime):
            out.append({"t": "datetime", "v": v.isoformat()})
        elif isinstance(v, dt.date):
            out.append({"t": "date", "v": v.isoformat()})
        elif isinstance(v, decimal.Decimal):
            out.append({"t": "decimal", "v": str(v)})
        elif isinstance(v, dt.time):
            out.append({"t": "time", "v": v.isoformat()})
        elif isinstance(v, uuid.UUID):
            out.append({"t": "uuid", "v": str(v)})
        elif isinstance(v, bytes):
            out.append({"t": "bytes", "v": base64.b64encode(v).decode()})
        elif v is None or isinstance(v, bool | int | float | str):
            out.append({"t": "plain", "v": v})
        else:
            raise TypeError(f"cannot keep a bookmark on a {type(v).__name__} column")
    return out


def decode(encoded: Sequence[dict[str, Any]]) -> list[Any]:
    readers: dict[str, Callable[[Any], Any]] = {
        "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "decimal": decimal.Decimal,
        "time": dt.time.fromisoformat,
        "uuid": uuid.UUID,
        "bytes": base64.b64decode,
        "plain": lambda v: v,
    }
    return [readers[e["t"]](e["v"]) for e in encoded]


def _fingerprint(values: Sequence[Any]) -> int:
    """A stable 63-bit hash of an ordering tuple (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(json.dumps(encode(values), sort_keys=True).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


MEMORY_CAP = 4000
"""Rows a bookmark remembers behind its mark at most: about 300 KB of JSON, well inside a Kafka
record. Past it, the oldest are forgotten and the re-scan window shrinks to what is remembered."""


@dataclass(frozen=True)
class Bookmark:
    """Where a capture stands: the high-water mark, plus what it delivered just behind it.

    ``hwm`` is the ordering tuple of the greatest row delivered. ``recent`` remembers rows
    delivered whose first ordering value lies within the re-scan window below the mark, as
    (first value, fingerprint) pairs: a re-scan of that window yields only rows that committed
    late (a long transaction that took an older id or timestamp), never one delivered before.

    The memory holds at most ``cap`` rows. When more rows fall in the window (a bulk UPDATE),
    the oldest are forgotten and ``since`` records the first value of the oldest one kept: the
    re-scan then starts there, not at the window's floor, so a forgotten row is never sent twice.
    ``shrunk`` says the last advance did that (the source logs it). The JSON form is what the
    position store keeps; a plain list is read as a bare mark.
    """

    hwm: tuple[Any, ...] | None = None
    recent: frozenset[tuple[Any, int]] = frozenset()
    since: Any = None
    shrunk: bool = False

    @classmethod
    def from_json(cls, obj: Any) -> Bookmark:
        if obj is None:
            return cls()
        if isinstance(obj, list):
            return cls(tuple(decode(obj)))
        first = decode([r[0] for r in obj.get("recent", [])])
        recent = frozenset(zip(first, (int(r[1]) for r in obj.get("recent", [])), strict=True))
        since = decode([obj["since"]])[0] if obj.get("since") else None
        return cls(tuple(decode(obj["hwm"])) if obj.get("hwm") else None, recent, since)

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.recent, key=lambda r: (str(r[0]), r[1]))
        out: dict[str, Any] = {
            "hwm": encode(self.hwm) if self.hwm is not None else None,
            "recent": [[e, h] for e, (_, h) in zip(encode([r[0] for r in ordered]), ordered, strict=True)],
        }
        if self.since is not None:
            out["since"] = encode([self.since])[0]
        return out

    def delivered(self, values: Sequence[Any]) -> bool:
        """True if ``values`` (at or below the mark) was already delivered."""
        return (values[0], _fingerprint(values)) in self.recent

    def window_floor(self, floor: Callable[[Any], Any]) -> Any:
        """The first ordering value a re-scan starts above: the window's floor, or ``since``."""
        assert self.hwm is not None
        lowest = floor(self.hwm[0])
        return lowest if self.since is None or self.since < lowest else self.since

    def advance(
        self, values: Sequence[Any], floor: Callable[[Any], Any] | None, cap: int = MEMORY_CAP
    ) -> Bookmark:
        """The bookmark after delivering the row ordered at ``values``.

        ``floor`` maps the mark's first ordering value to the lowest one the re-scan window still
        covers (None: no window, keep no memory).
        """
        row = tuple(values)
        hwm = row if self.hwm is None or row > self.hwm else self.hwm
        if floor is None:
            return Bookmark(hwm)
        lowest = floor(hwm[0])
        since = self.since if self.since is not None and self.since > lowest else None
        kept = {r for r in self.recent if r[0] > lowest and (since is None or r[0] > since)}
        kept.add((row[0], _fingerprint(row)))
        if len(kept) <= cap:
            return Bookmark(hwm, frozenset(kept), since)
        oldest_first = sorted(kept, key=lambda r: r[0])
        dropped_to = oldest_first[len(kept) - cap][0]
        # keep every row from the first value kept on, so a value is remembered whole or not at all
        remaining = frozenset(r for r in kept if r[0] > dropped_to)
        return Bookmark(hwm, remaining, dropped_to, shrunk=True)
