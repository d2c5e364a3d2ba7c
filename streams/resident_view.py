"""The unified resident view (一人一档), as a faust app.

faust's Stream.join and table joins raise NotImplementedError, so the join is built the way they
would have been: one agent per department's topic, the topics co-partitioned by the resident's ID
(same partition count, same key bytes, same murmur2 partitioner), each folding its events into one
changelog-backed table keyed by that ID. The table holds the encoded profile itself, so its
changelog and the view topic carry the same bytes and a restarted worker recovers the table from
the changelog. Each update is written to the compacted view topic keyed by the ID.

The per-event step is :func:`fold`, a plain function over a mapping, so it is tested with a dict
or inside ``agent.test_context()``. :func:`build` only declares the app: topics are created and
the registry is reached when the worker starts (worker.py), which hands the view its codec.
An event that cannot be decoded or applied goes to the dead-letter topic with its reason and its
payload.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
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

from . import profile
from .profile import Profile
from .settings import StreamsSettings

log = structlog.get_logger(__name__)
PROCESSOR = "resident-profile"


class Codec(Protocol):
    """How the view reads keys and events and writes profiles (Avro through the registry)."""

    def key(self, data: bytes) -> str: ...

    def event(self, data: bytes) -> dict[str, Any]: ...

    def profile(self, data: bytes) -> Profile: ...

    def encode(self, value: Profile) -> bytes: ...


@dataclass(frozen=True)
class Folded:
    changed: bool
    """False when the event changed nothing (a replay): nothing is written to the view."""
    value: bytes | None
    """The view's new value for the key; None: the profile holds nothing (a tombstone)."""


def _epoch_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return int(value or 0)


def fold(
    table: MutableMapping[bytes, bytes], codec: Codec, part: str, key: bytes | None, value: bytes | None
) -> Folded:
    """Fold one source event of ``part`` into ``table``.

    Deterministic, so a replayed event changes nothing: ``updated_ms`` is the newest event time
    folded (the envelope's ``ts_ms``), not the wall clock, and an event that leaves the profile's
    bytes as they were reports ``changed=False``. A value of None means the profile holds
    nothing any more: the table forgets the key and the view gets a tombstone. Raises
    (ValueError, SerializationError, RegistryError, …) for an event that cannot be applied now;
    the table is then unchanged.
    """
    if not isinstance(key, bytes):
        raise ValueError("event has no key")
    resident_id = codec.key(key)
    envelope = codec.event(value) if value is not None else None
    current = table.get(key)
    before = codec.profile(current) if current is not None else profile.empty(resident_id)
    event_ms = _epoch_ms(envelope.get("ts_ms")) if envelope else 0
    after = profile.apply(before, part, envelope, now_ms=max(_epoch_ms(before["updated_ms"]), event_ms))
    encoded = codec.encode(after) if after is not None else None
    if encoded == current:
        return Folded(False, encoded)
    if encoded is None:
        table.pop(key, None)
    else:
        table[key] = encoded
    return Folded(True, encoded)


Emit = Callable[[bytes | None, bytes | None], Awaitable[Any]]
"""Sends (key, value) to a topic; the view topic's and the dead-letter topic's by default."""


@dataclass
class ResidentView:
    """The declared app; ``codec`` is handed in by the worker at start (or by a test).

    ``emit`` and ``emit_dead`` write the view and dead-letter records; a test replaces them to
    run an agent in ``test_context()`` without a broker.
    """

    app: faust.App
    table: Any
    emit: Emit
    emit_dead: Callable[[bytes, bytes, list[tuple[str, bytes]]], Awaitable[Any]]
    agents: dict[str, Any] = field(default_factory=dict)
    codec: Codec | None = None


def build(settings: StreamsSettings) -> ResidentView:
    """Declare the app, its table and one agent per department topic; touches no broker."""
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
    view_topic = app.topic(
        settings.view_topic, key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    dead_topic = app.topic(settings.dead_letter_topic, key_type=bytes, value_type=bytes, partitions=1)
    table = app.Table(
        "resident-profile",
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        help="encoded ResidentProfile by ID key",
    )
    view = ResidentView(
        app,
        table,
        emit=lambda key, value: view_topic.send(key=key, value=value),
        emit_dead=lambda key, value, headers: dead_topic.send(key=key, value=value, headers=headers),
    )

    async def dead_letter(event: EventT[bytes], reason: str) -> None:
        metrics.STREAMS_DEAD_LETTERS.labels(PROCESSOR).inc()
        msg = event.message
        letter = DeadLetter(
            origin=PROCESSOR,
            origin_kind="processor",
            source={"topic": msg.topic, "partition": msg.partition, "offset": msg.offset},
            key={"b64": base64.b64encode(msg.key).decode() if isinstance(msg.key, bytes) else ""},
            position={"topic": msg.topic, "partition": msg.partition, "offset": msg.offset},
            field="(event)",
            reason=reason,
            payload=msg.value if isinstance(msg.value, bytes) else None,
        )
        log.warning(
            "streams.dead_letter", topic=msg.topic, partition=msg.partition, offset=msg.offset, reason=reason
        )
        await view.emit_dead(*letter.encode())

    def agent_for(topic_name: str, part: str) -> Any:
        source = app.topic(topic_name, key_type=bytes, value_type=bytes, partitions=settings.partitions)

        async def process(stream: faust.Stream[bytes]) -> AsyncIterator[None]:
            async for event in stream.events():
                metrics.STREAMS_EVENTS.labels(PROCESSOR, topic_name).inc()
                assert view.codec is not None, "the worker hands the view its codec before it starts"
                waits = Backoff(cap_s=30.0)
                while True:
                    try:
                        folded = fold(table, view.codec, part, event.key, event.value)
                        break
                    except RegistryError as exc:
                        if exc.code < 50000:  # the registry answered: this event can never decode
                            folded = None
                            await dead_letter(event, f"RegistryError: {exc}")
                            break
                        # the registry is away: stop consuming (this agent waits), lose nothing
                        delay = waits.next_delay()
                        metrics.STREAMS_RETRIES.labels(PROCESSOR, "registry").inc()
                        log.warning("streams.registry_unavailable", error=exc.message, retry_in_s=delay)
                        await asyncio.sleep(delay)
                    except Exception as exc:  # a bad event is data: dead-letter it, keep the stream
                        folded = None
                        await dead_letter(event, f"{type(exc).__name__}: {exc}")
                        break
                if folded is not None and folded.changed:
                    await view.emit(event.key, folded.value)
                    metrics.STREAMS_VIEW_UPDATES.labels(PROCESSOR).inc()
                yield None

        process.__name__ = f"fold_{part}"
        return app.agent(source, name=f"resident-profile.{part}")(process)  # type: ignore[arg-type]

    view.agents[profile.REGISTRATION] = agent_for(settings.resident_topic, profile.REGISTRATION)
    view.agents[profile.SUBSIDY] = agent_for(settings.subsidy_topic, profile.SUBSIDY)
    return view
