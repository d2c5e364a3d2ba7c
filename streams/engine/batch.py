"""One batch of a view's events on one partition, folded: the state writes and view records it makes.

This is the engine's per-batch work with no Kafka in it, so it is tested with a dict for a store.
The contract, for a batch of consumed messages of one view on one partition (``fold_batch``):

- each event is decoded and folded into its view key's state (:mod:`civicbus.streams.views.fold`):
  an older or replayed event changes nothing;
- every key the batch changed gets its new state once (``states``), and its view record once,
  rendered after the batch's last event for it (``records``; None is a tombstone: no source holds
  a row for the key any more);
- a record is written only when it differs from the last one written for the key (the state keeps
  its digest), so an event that changes nothing a subscriber sees writes nothing;
- an event that cannot be decoded or folded, or whose change renders a record the view's schema
  refuses, is returned in ``letters`` with its reason and changes nothing; the others still apply;
- while the registry is away, :class:`RegistryError` (code 5xxxx) propagates and nothing is
  returned: the engine reads the same batch again later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from civicbus.schemas.registry_errors import RegistryError

from ..views import state as state_codec
from ..views.fold import Change, Outcome, State, apply, change, render, upgrade
from ..views.spec import ViewSpec

MOVED = "civicbus.moved-out"
"""Header of a repartitioned event that removes its row from the view key it is sent to."""

DIGEST = ""
"""The state's entry holding the digest of the view record last written for its key (no source
can have an empty name)."""


class Codec(Protocol):
    """How a view reads events and writes its keys and records (Avro through the registry)."""

    def event(self, data: bytes) -> dict[str, Any]: ...

    def key(self, value: str) -> bytes: ...

    def unkey(self, data: bytes) -> str:
        """The view key ``key`` encoded."""
        ...

    def record(self, value: dict[str, Any]) -> bytes: ...


class Message(Protocol):
    """What the engine reads of a consumed message (confluent-kafka's ``Message`` has these)."""

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...

    def key(self) -> bytes | None: ...

    def value(self) -> bytes | None: ...

    def headers(self) -> list[tuple[str, bytes]] | None: ...


@dataclass
class Folded:
    states: dict[bytes, bytes] = field(default_factory=dict)
    """View key → its new fold state, for each key the batch changed."""
    records: dict[bytes, bytes | None] = field(default_factory=dict)
    """View key → the view record to write (None: a tombstone), for each key whose record changed."""
    letters: list[tuple[Message, str]] = field(default_factory=list)
    """Events that could not be applied, each with its reason."""


def fold_batch(
    spec: ViewSpec,
    codec: Codec,
    lookup: Callable[[bytes], bytes | None],
    events: Sequence[tuple[int, Message]],
) -> Folded:
    """Fold ``events`` (source index, message) of one partition, reading states with ``lookup``."""
    out = Folded()
    held: dict[bytes, State] = {}
    changes: dict[bytes, list[tuple[Change, Message]]] = {}
    for index, msg in events:
        value = msg.value()
        if value is None:  # a Kafka tombstone: the delete event before it carried the row
            continue
        try:
            moved = _moved_out(spec, index, msg, codec)
            sent_to = codec.unkey(msg.key() or b"") if spec.sources[index].via is not None else None
            ch = change(spec, index, codec.event(value), msg.offset() or 0, moved, sent_to)
            key = codec.key(ch.key)
        except RegistryError as exc:
            if exc.code >= 50000:
                raise
            out.letters.append((msg, f"RegistryError: {exc}"))
            continue
        except Exception as exc:  # a bad event is data: it is reported, the batch goes on
            out.letters.append((msg, f"{type(exc).__name__}: {exc}"))
            continue
        if key not in held:
            stored = lookup(key)
            held[key] = upgrade(spec, state_codec.decode(stored)) if stored is not None else {}
        if apply(held[key], ch) is Outcome.NEWER:
            changes.setdefault(key, []).append((ch, msg))
    for key, applied in changes.items():
        try:
            _emit(spec, codec, key, applied[0][0].key, held[key], out)
        except Exception:
            _one_by_one(spec, codec, lookup, key, applied, out)
    return out


def _moved_out(spec: ViewSpec, index: int, msg: Message, codec: Codec) -> str | None:
    """The view key a re-keyed row left, for an event the re-keying marked so (:mod:`.rekey`)."""
    if not spec.sources[index].rekeyed:
        return None
    headers = msg.headers()
    key = msg.key()
    if headers and key is not None and any(name == MOVED for name, _ in headers):
        return codec.unkey(key)
    return None


def _emit(spec: ViewSpec, codec: Codec, key: bytes, text: str, folded: State, out: Folded) -> None:
    """Render ``folded``; record its state, and its record if that differs from the last written."""
    record = render(spec, text, folded)
    encoded = codec.record(record) if record is not None else None
    digest = hashlib.blake2b(encoded or b"", digest_size=8).hexdigest()
    if folded.get(DIGEST) != digest:
        folded[DIGEST] = digest
        out.records[key] = encoded
    out.states[key] = state_codec.encode(folded)


def _one_by_one(
    spec: ViewSpec,
    codec: Codec,
    lookup: Callable[[bytes], bytes | None],
    key: bytes,
    applied: list[tuple[Change, Message]],
    out: Folded,
) -> None:
    """A key whose batch renders a record the view refuses: apply its changes one at a time from
    the stored state, keeping those that render and reporting the ones that do not."""
    stored = lookup(key)
    good: State = upgrade(spec, state_codec.decode(stored)) if stored is not None else {}
    kept = False
    for ch, msg in applied:
        trial = state_codec.decode(state_codec.encode(good))
        apply(trial, ch)
        try:
            record = render(spec, ch.key, trial)
            if record is not None:
                codec.record(record)
        except Exception as exc:
            out.letters.append((msg, f"{type(exc).__name__}: {exc}"))
            continue
        good, kept = trial, True
    out.records.pop(key, None)
    out.states.pop(key, None)
    if kept:
        _emit(spec, codec, key, applied[0][0].key, good, out)
