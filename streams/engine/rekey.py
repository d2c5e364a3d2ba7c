"""Sources keyed by another field than their view's key, re-keyed through repartition topics.

A source topic keyed by one field (a resident's ID number) may feed a view keyed by another (the
household number): the source's ``keyed_by`` names the topic's key field and ``key`` the field
holding the view's key. The worker re-keys it: per batch (:func:`rekey_batch`) each event is
written unchanged to the source's repartition topic (:func:`topic`; as many partitions as the
source), keyed by the view key its row names, and the view's fold reads that topic as a
co-partitioned source, in the same transaction as everything else.

The re-keying remembers, per source row (the message key), the view key the row was last sent
to (the *keys* store, with its own changelog, like the views' states). When an update moves the
row to another view key (a resident moving household), or clears it, the event is also sent to
the old key with the header :data:`MOVED`, and the fold removes the row there. A deleted row is
sent to the key it was last under, and forgotten.

A source whose rows do not name the view key at all (a subsidy names its holder, not their
household) follows another, re-keyed source ``via`` the topic key they share: its rows go to
whatever view key that source's row with the same topic key is under. They are kept (the *rows*
store: topic key and element → the latest event), so when the row they follow moves, they are
sent again: moved out of the old key and into the new one. Rows that arrive before the row they
follow wait in the store and are sent when it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from civicbus.schemas.registry_errors import RegistryError

from ..views.spec import ViewSpec
from .batch import MOVED, Codec, Message

__all__ = ["MOVED", "Rekeyed", "changelog", "keys_store", "rekey_batch", "rows_store", "topic"]

Lookup = Callable[[str], Callable[[bytes], bytes | None]]
"""Store name → that store's ``get``."""
Scan = Callable[[str, bytes], Iterable[tuple[bytes, bytes]]]
"""(store name, prefix) → the store's entries under the prefix."""


def topic(app_id: str, view: str, index: int) -> str:
    """The repartition topic of source ``index`` of ``view``."""
    return f"{app_id}-view-{view}-{index}-repartition"


def keys_store(view: str, index: int) -> str:
    """The store remembering the view key each row of re-keyed source ``index`` was sent to."""
    return f"{view}.{index}.keys"


def rows_store(view: str, index: int) -> str:
    """The store keeping the rows of source ``index``, which follows another source ``via``."""
    return f"{view}.{index}.rows"


def changelog(app_id: str, store: str) -> str:
    """The changelog of a re-keying store."""
    return f"{app_id}-view-{store.replace('.', '-')}-changelog"


def stores(spec: ViewSpec) -> list[str]:
    """Every re-keying store ``spec`` needs."""
    names = []
    for index, source in enumerate(spec.sources):
        if source.via is not None:
            names.append(rows_store(spec.name, index))
        elif source.rekeyed:
            names.append(keys_store(spec.name, index))
    return names


@dataclass
class Rekeyed:
    sends: list[tuple[int, bytes, bytes, bool]] = field(default_factory=list)
    """(source index, view key, the event's bytes, moved out), in order, for the source's
    repartition topic."""
    states: dict[str, dict[bytes, bytes | None]] = field(default_factory=dict)
    """Store name → its entries the batch changed (None: removed)."""
    letters: list[tuple[Message, str]] = field(default_factory=list)
    """Events that could not be re-keyed, each with its reason."""


def rekey_batch(
    spec: ViewSpec, codec: Codec, lookup: Lookup, scan: Scan, events: Sequence[tuple[int, Message]]
) -> Rekeyed:
    """Re-key ``events`` (source index, message) of one partition of ``spec``'s re-keyed sources.

    Raises RegistryError (5xxxx) while the registry is away, returning nothing; a refusal or an
    event that names no row is returned in ``letters``."""
    return _Batch(spec, codec, lookup, scan).run(events)


class _Batch:
    def __init__(self, spec: ViewSpec, codec: Codec, lookup: Lookup, scan: Scan) -> None:
        self.spec, self.codec, self.lookup, self.scan = spec, codec, lookup, scan
        self.out = Rekeyed()
        idents = {s.ident: i for i, s in enumerate(spec.sources)}
        self.leaders = {i: idents[s.via] for i, s in enumerate(spec.sources) if s.via is not None}
        """Follower's index → the index of the source it follows."""
        self.followers: dict[int, list[int]] = {}
        for follower, leader in self.leaders.items():
            self.followers.setdefault(leader, []).append(follower)

    def run(self, events: Sequence[tuple[int, Message]]) -> Rekeyed:
        for index, msg in events:
            value, row_key = msg.value(), msg.key()
            if value is None:
                continue
            if row_key is None:
                self.out.letters.append(
                    (msg, "the message has no key: its row cannot be followed across keys")
                )
                continue
            try:
                deleted, row = self._row(value)
                if self.spec.sources[index].via is None:
                    self._lead(index, msg, row_key, value, deleted, row)
                else:
                    self._follow(index, row_key, value, deleted, row)
            except RegistryError as exc:
                if exc.code >= 50000:
                    raise
                self.out.letters.append((msg, f"RegistryError: {exc}"))
            except Exception as exc:
                self.out.letters.append((msg, f"{type(exc).__name__}: {exc}"))
        return self.out

    def _row(self, value: bytes) -> tuple[bool, dict[str, Any]]:
        envelope = self.codec.event(value)
        deleted = envelope.get("op") == "d" or envelope.get("after") is None
        row = envelope.get("before") if deleted else envelope.get("after")
        if row is None:
            raise ValueError("the event has neither 'after' nor 'before': it names no row")
        return deleted, row

    def _get(self, store: str, key: bytes) -> bytes | None:
        pending = self.out.states.get(store, {})
        return pending[key] if key in pending else self.lookup(store)(key)

    def _put(self, store: str, key: bytes, value: bytes | None) -> None:
        self.out.states.setdefault(store, {})[key] = value

    def _lead(
        self, index: int, msg: Message, row_key: bytes, value: bytes, deleted: bool, row: dict[str, Any]
    ) -> None:
        """A row of a source re-keyed by its own field: send it where it names, out of where it was."""
        source = self.spec.sources[index]
        named = row.get(source.key or "")
        new = self.codec.key(str(named)) if named not in (None, "") else None
        store = keys_store(self.spec.name, index)
        last = self._get(store, row_key)
        if deleted:
            target = last or new
            if target is None:
                self.out.letters.append(
                    (msg, f"the deleted row has no {source.key!r} and was never under one")
                )
                return
            self.out.sends.append((index, target, value, False))
            new = None
        else:
            if last is not None and last != new:
                self.out.sends.append((index, last, value, True))
            if new is not None:
                self.out.sends.append((index, new, value, False))
        self._put(store, row_key, new)
        if last != new:
            for follower in self.followers.get(index, []):
                for _, kept in self._kept(follower, row_key):
                    if last is not None:
                        self.out.sends.append((follower, last, kept, True))
                    if new is not None:
                        self.out.sends.append((follower, new, kept, False))

    def _follow(self, index: int, row_key: bytes, value: bytes, deleted: bool, row: dict[str, Any]) -> None:
        """A row of a source that follows another ``via`` their topic key: keep it, and send it
        where the row it follows is now."""
        source = self.spec.sources[index]
        element = str(row.get(source.collection.id)) if source.collection is not None else ""
        self._put(
            rows_store(self.spec.name, index),
            row_key + b"\x00" + element.encode(),
            None if deleted else value,
        )
        current = self._get(keys_store(self.spec.name, self.leaders[index]), row_key)
        if current is not None:
            self.out.sends.append((index, current, value, False))

    def _kept(self, index: int, row_key: bytes) -> list[tuple[bytes, bytes]]:
        """The rows of follower ``index`` kept for ``row_key``, this batch's changes included."""
        store, prefix = rows_store(self.spec.name, index), row_key + b"\x00"
        found = dict(self.scan(store, prefix))
        for key, value in self.out.states.get(store, {}).items():
            if key.startswith(prefix):
                if value is None:
                    found.pop(key, None)
                else:
                    found[key] = value
        return sorted(found.items())
