"""Which transactions a PostgreSQL snapshot saw, from ``pg_current_snapshot()``, asked about
with the 32-bit transaction ids pgoutput's BEGIN messages carry."""

from __future__ import annotations

from dataclasses import dataclass

_WRAP = 1 << 32


@dataclass(frozen=True)
class Snapshot:
    xmax: int
    """Every transaction id from here on was not yet assigned: unseen."""
    running: frozenset[int]
    """The ids below ``xmax`` still running when the snapshot was taken: unseen."""

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """``pg_current_snapshot()`` as text, ``xmin:xmax:xip,xip,...`` (64-bit ids)."""
        _, xmax, running = text.split(":")  # below xmin every committed transaction was seen
        return cls(int(xmax), frozenset(int(x) for x in running.split(",") if x))

    def unseen(self, xid: int) -> bool:
        """Whether the snapshot did not see the committed transaction ``xid`` (32 bits, as the
        log gives it; taken as the id nearest ``xmax`` with those low bits: a transaction whose
        change is being received now is far closer to it than 2**31)."""
        ahead = (xid - self.xmax) % _WRAP
        full = self.xmax + ahead if ahead < _WRAP // 2 else self.xmax + ahead - _WRAP
        return full >= self.xmax or full in self.running
