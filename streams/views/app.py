"""Declared views as one faust app: a table and one agent per source for every view.

faust's Stream.join and table joins raise NotImplementedError, so a view is built the way they
would have been: each source topic is co-partitioned with the view (same partition count, keyed
by the view's key as the same Avro bytes, same murmur2 partitioner), and its agent folds each
event into the view's changelog-backed table (:mod:`.fold`, stored as :mod:`.state`), then writes
the view's new record to its compacted topic. A restarted worker recovers the table from the
changelog; a replayed event changes nothing in it and writes the view's record again (at least
once: see :func:`step`).

:func:`step` is the per-event work, a plain function over a mapping, so it is tested with a dict
or inside ``agent.test_context()``. :func:`build` only declares the app: topics are created and the
registry is reached when the worker starts (worker.py), which hands each view its codec. An event
that cannot be decoded or folded goes to the view's dead-letter topic with its reason and payload;
while the registry is away the agent waits and retries, losing nothing.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import faust
import structlog
from faust.types import EventT

from civicbus.core.backoff import Backoff
from civicbus.core.deadletter import DeadLetter
from civicbus.ops import metrics
from civicbus.schemas.registry_errors import RegistryError

from ..settings import StreamsSettings
from . import state
from .fold import Outcome, apply, change, render
from .spec import ViewSpec

log = structlog.get_logger(__name__)


class Codec(Protocol):
    """How a view reads events and writes its keys and records (Avro through the registry)."""

    def event(self, data: bytes) -> dict[str, Any]: ...

    def key(self, value: str) -> bytes: ...

    def record(self, value: dict[str, Any]) -> bytes: ...


@dataclass(frozen=True)
class Folded:
    changed: bool
    """True when the event changed the view's state."""
    emit: bool = False
    """True when the view's record is to be written: after a change, and again for a replayed
    event, whose first write may not have reached the view topic before a crash."""
    key: bytes | None = None
    """The view's key, as the view topic's message key."""
    value: bytes | None = None
    """The view's record; None when no source holds a row for the key (a tombstone)."""


def step(
    table: MutableMapping[bytes, bytes],
    codec: Codec,
    spec: ViewSpec,
    source: int,
    value: bytes | None,
    offset: int,
) -> Folded:
    """Fold one event of ``spec.sources[source]`` into ``table``.

    An event older than the state's version of its row changes nothing and writes nothing. A
    replayed event (the same version) changes nothing but writes the current record again: the
    state's changelog and the view topic are written separately, so after a crash the state may
    hold an event whose view record never arrived. The view thus never misses an update and may
    see the same record twice (at least once). A Kafka tombstone (``value`` None) changes
    nothing: the delete event before it carried the row. Raises (ValueError, SerializationError,
    RegistryError, …) for an event that cannot be applied now; the table is then unchanged.
    """
    if value is None:
        return Folded(False)
    ch = change(spec, source, codec.event(value), offset)
    key = codec.key(ch.key)
    held = table.get(key)
    folded = state.decode(held) if held is not None else {}
    outcome = apply(folded, ch)
    if outcome is Outcome.OLDER:
        return Folded(False)
    record = render(spec, ch.key, folded)
    encoded = codec.record(record) if record is not None else None
    if outcome is Outcome.NEWER:
        table[key] = state.encode(folded)
    return Folded(outcome is Outcome.NEWER, True, key, encoded)


Emit = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None], Awaitable[Any]]
"""Sends (topic, key, value, headers); a test replaces it to run agents without a broker."""


@dataclass
class Views:
    """The declared app; each view's codec is handed in by the worker at start (or by a test)."""

    app: faust.App
    specs: list[ViewSpec]
    tables: dict[str, Any] = field(default_factory=dict)
    agents: dict[tuple[str, int], Any] = field(default_factory=dict)
    codecs: dict[str, Codec] = field(default_factory=dict)
    emit: Emit | None = None


def build(settings: StreamsSettings, specs: list[ViewSpec]) -> Views:
    """Declare the app, a table per view and an agent per source; touches no broker."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{hp}" for hp in settings.bootstrap_servers.split(",")],
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        broker_commit_interval=1.0,
        # faust waits 60 s for a departed member by default; a restarted or failed-over worker
        # then idles a minute before it processes anything
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 3,
        broker_rebalance_timeout=settings.session_timeout_s * 2,
    )
    views = Views(app, specs)
    topics: dict[str, Any] = {}

    def topic(name: str, partitions: int) -> Any:
        if name not in topics:
            topics[name] = app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions)
        return topics[name]

    async def send(
        name: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | None
    ) -> Any:
        return await topic(name, settings.partitions).send(key=key, value=value, headers=headers)

    views.emit = send
    for spec in specs:
        views.tables[spec.name] = app.Table(
            f"view-{spec.name}",
            default=None,
            partitions=settings.partitions,
            key_type=bytes,
            value_type=bytes,
            help=f"fold state of the {spec.name} view by its key",
        )
        for index, source in enumerate(spec.sources):
            views.agents[(spec.name, index)] = _agent(
                views, spec, index, topic(source.topic, settings.partitions)
            )
    return views


def _agent(views: Views, spec: ViewSpec, index: int, source_topic: Any) -> Any:
    source = spec.sources[index]
    table = views.tables[spec.name]

    async def dead_letter(event: EventT[bytes], reason: str) -> None:
        metrics.STREAMS_DEAD_LETTERS.labels(spec.name).inc()
        msg = event.message
        where = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
        letter = DeadLetter(
            origin=spec.name,
            origin_kind="processor",
            source=where,
            key={"b64": base64.b64encode(msg.key).decode() if isinstance(msg.key, bytes) else ""},
            position=where,
            field="(event)",
            reason=reason,
            payload=msg.value if isinstance(msg.value, bytes) else None,
        )
        log.warning("streams.dead_letter", view=spec.name, reason=reason, **where)
        key, value, headers = letter.encode()
        assert views.emit is not None
        await views.emit(spec.dead_letter_topic, key, value, headers)

    async def process(stream: faust.Stream[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            metrics.STREAMS_EVENTS.labels(spec.name, source.topic).inc()
            codec = views.codecs[spec.name]
            waits = Backoff(cap_s=30.0)
            folded: Folded | None = None
            while True:
                try:
                    folded = step(table, codec, spec, index, event.value, event.message.offset)
                    break
                except RegistryError as exc:
                    if exc.code < 50000:  # the registry answered: this event can never decode
                        await dead_letter(event, f"RegistryError: {exc}")
                        break
                    # the registry is away: stop consuming (this agent waits), lose nothing
                    delay = waits.next_delay()
                    metrics.STREAMS_RETRIES.labels(spec.name, "registry").inc()
                    log.warning("streams.registry_unavailable", error=exc.message, retry_in_s=delay)
                    await asyncio.sleep(delay)
                except Exception as exc:  # a bad event is data: dead-letter it, keep the stream
                    await dead_letter(event, f"{type(exc).__name__}: {exc}")
                    break
            if folded is not None and folded.emit:
                assert views.emit is not None
                await views.emit(spec.topic, folded.key, folded.value, None)
                metrics.STREAMS_VIEW_UPDATES.labels(spec.name).inc()
            yield None

    process.__name__ = f"fold_{spec.name}_{index}"
    return views.app.agent(source_topic, name=f"view.{spec.name}.{index}")(process)  # type: ignore[arg-type]
