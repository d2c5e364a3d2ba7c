"""Decode the messages of PostgreSQL's ``pgoutput`` plugin, protocol version 1.

The format is PostgreSQL's "Logical Replication Message Formats" (protocol documentation,
chapter 55.9). Only what capture needs is decoded: transaction boundaries, relations (the
columns and their type OIDs), row changes as text values, and truncates; origin and type messages
are passed over. Values stay text here; the source turns them into Python values with the
server's own type loaders.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PG_EPOCH_US = 946_684_800_000_000
"""Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC)."""

UNCHANGED = object()
"""A TOASTed value the update did not change and the server did not send."""


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_ts_ms: int
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    commit_ts_ms: int


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    key: bool


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str
    """``d`` default (key), ``f`` full, ``i`` index, ``n`` nothing."""
    columns: tuple[Column, ...]


Tuple = list["bytes | object | None"]
"""One row's values in column order: text bytes, None for NULL, or :data:`UNCHANGED`."""


@dataclass(frozen=True, slots=True)
class Change:
    op: str
    """``c`` insert, ``u`` update, ``d`` delete."""
    relation_oid: int
    new: Tuple | None = None
    old: Tuple | None = None
    """The old row: every column with REPLICA IDENTITY FULL, else only the key (others None)."""


@dataclass(frozen=True, slots=True)
class Truncate:
    relation_oids: tuple[int, ...]


@dataclass(slots=True)
class _Reader:
    data: bytes
    at: int = field(default=0)

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        end = self.data.index(b"\0", self.at)
        text = self.data[self.at : end].decode()
        self.at = end + 1
        return text

    def char(self) -> str:
        self.at += 1
        return chr(self.data[self.at - 1])

    def tuple(self) -> Tuple:
        values: Tuple = []
        for _ in range(self.take("!h")):
            kind = self.char()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED)
            elif kind in ("t", "b"):
                size = self.take("!i")
                values.append(self.data[self.at : self.at + size])
                self.at += size
            else:
                raise ValueError(f"pgoutput: unknown tuple column kind {kind!r}")
        return values


def _ms(pg_us: int) -> int:
    return (pg_us + PG_EPOCH_US) // 1000


Message = Begin | Commit | Relation | Change | Truncate | None


def decode(payload: bytes) -> Message:
    """One pgoutput message; None for the kinds capture does not use (origin, type, message)."""
    r = _Reader(payload)
    kind = r.char()
    if kind == "B":
        return Begin(final_lsn=r.take("!Q"), commit_ts_ms=_ms(r.take("!q")), xid=r.take("!I"))
    if kind == "C":
        r.take("!B")  # flags, unused
        return Commit(commit_lsn=r.take("!Q"), end_lsn=r.take("!Q"), commit_ts_ms=_ms(r.take("!q")))
    if kind == "R":
        oid = r.take("!I")
        namespace, name, identity = r.string(), r.string(), r.char()
        columns = []
        for _ in range(r.take("!h")):
            flags = r.take("!B")
            col_name = r.string()
            type_oid = r.take("!I")
            r.take("!i")  # type modifier
            columns.append(Column(col_name, type_oid, bool(flags & 1)))
        return Relation(oid, namespace, name, identity, tuple(columns))
    if kind == "I":
        oid = r.take("!I")
        r.char()  # 'N'
        return Change("c", oid, new=r.tuple())
    if kind == "U":
        oid = r.take("!I")
        marker = r.char()
        old = None
        if marker in ("K", "O"):
            old = r.tuple()
            marker = r.char()
        return Change("u", oid, new=r.tuple(), old=old)
    if kind == "D":
        oid = r.take("!I")
        r.char()  # 'K' or 'O'
        return Change("d", oid, old=r.tuple())
    if kind == "T":
        count = r.take("!I")
        r.take("!B")  # options (cascade, restart identity)
        return Truncate(tuple(r.take("!I") for _ in range(count)))
    if kind in ("O", "Y", "M"):
        return None
    raise ValueError(f"pgoutput: unknown message kind {kind!r}")
