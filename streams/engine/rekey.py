"""Sources keyed by another field than their view's key, re-keyed through a repartition topic.

A source topic keyed by one field (a resident's ID number) may feed a view keyed by another (the
household number): the source's ``keyed_by`` names the topic's key field and ``key`` the field
holding the view's key. The worker then re-keys it: per batch (:func:`rekey_batch`) each event
is written unchanged to the source's repartition topic (:func:`topic`; as many partitions as the
source), keyed by the view key its row names, and the view's fold reads that topic as a
co-partitioned source, in the same transaction as everything else.

The re-keying remembers, per source row (the message key), the view key the row was last sent
to (a store with its own changelog, like the views' states). When an update moves the row to
another view key (a resident moving household), or clears it, the event is also sent to the old
key with the header :data:`MOVED`, and the fold removes the row there. A deleted row is sent to
the key it was last under, and forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from civicbus.schemas.registry_errors import RegistryError

from ..views.spec import ViewSpec
from .batch import MOVED, Codec, Message

__all__ = ["MOVED", "Rekeyed", "changelog", "rekey_batch", "topic"]


def topic(app_id: str, view: str, index: int) -> str:
    """The repartition topic of source ``index`` of ``view``."""
    return f"{app_id}-view-{view}-{index}-repartition"


def changelog(app_id: str, view: str, index: int) -> str:
    """The changelog of the re-keying's memory (source row key → the view key it was sent to)."""
    return f"{app_id}-view-{view}-{index}-rekey-changelog"


@dataclass
class Rekeyed:
    sends: list[tuple[bytes, bytes, bool]] = field(default_factory=list)
    """(view key, the event's bytes, moved out) for the repartition topic, in order."""
    states: dict[bytes, bytes | None] = field(default_factory=dict)
    """Source row key → the view key it is now under (None: under none), for each row touched."""
    letters: list[tuple[Message, str]] = field(default_factory=list)
    """Events that could not be re-keyed, each with its reason."""


def rekey_batch(
    spec: ViewSpec,
    index: int,
    codec: Codec,
    lookup: Callable[[bytes], bytes | None],
    events: Sequence[Message],
) -> Rekeyed:
    """Re-key ``events`` of source ``index`` on one partition, reading the memory with ``lookup``.

    Raises RegistryError (5xxxx) while the registry is away, returning nothing; a refusal or an
    event that names no row is returned in ``letters``."""
    source = spec.sources[index]
    out = Rekeyed()
    for msg in events:
        value, row_key = msg.value(), msg.key()
        if value is None:
            continue
        if row_key is None:
            out.letters.append((msg, "the message has no key: its row cannot be followed across keys"))
            continue
        try:
            envelope = codec.event(value)
            deleted = envelope.get("op") == "d" or envelope.get("after") is None
            row = envelope.get("before") if deleted else envelope.get("after")
            if row is None:
                raise ValueError("the event has neither 'after' nor 'before': it names no row")
            named = row.get(source.key)
            new = codec.key(str(named)) if named not in (None, "") else None
        except RegistryError as exc:
            if exc.code >= 50000:
                raise
            out.letters.append((msg, f"RegistryError: {exc}"))
            continue
        except Exception as exc:
            out.letters.append((msg, f"{type(exc).__name__}: {exc}"))
            continue
        last = out.states[row_key] if row_key in out.states else lookup(row_key)
        if deleted:
            target = last or new
            if target is None:
                out.letters.append((msg, f"the deleted row has no {source.key!r} and was never under one"))
                continue
            out.sends.append((target, value, False))
            out.states[row_key] = None
            continue
        if last is not None and last != new:
            out.sends.append((last, value, True))
        if new is not None:
            out.sends.append((new, value, False))
        out.states[row_key] = new
    return out
