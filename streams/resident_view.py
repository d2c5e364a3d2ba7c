"""The unified resident view (一人一档), as a faust app.

faust's Stream.join and table joins raise NotImplementedError, so the join is built the way they
would have been: one agent consumes both departments' topics, which are co-partitioned by the
resident's ID (same partition count, same key bytes, same murmur2 partitioner), and folds each
event into a changelog-backed table keyed by that ID. The table holds the encoded profile itself,
so its changelog and the view topic carry the same bytes and a restarted worker recovers the
table from the changelog. Each update is written to the compacted view topic keyed by the ID.

An event that cannot be decoded or applied goes to the dead-letter topic with its reason.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import faust
import structlog
from faust.types import EventT

from civicbus.kafka import ensure_topic
from ops import metrics
from schemas import model
from schemas.registry.client import RegistryClient
from schemas.wire import AvroDecoder, AvroEncoder

from . import profile
from .settings import StreamsSettings

log = structlog.get_logger(__name__)
PROCESSOR = "resident-profile"


def build(settings: StreamsSettings) -> faust.App:
    """A faust app with the resident-view agent; topics are created before it starts."""
    bootstrap = settings.bootstrap_servers
    for topic in (settings.resident_topic, settings.subsidy_topic):
        ensure_topic(bootstrap, topic, settings.partitions)
    ensure_topic(bootstrap, settings.view_topic, settings.partitions, compacted=True)
    ensure_topic(bootstrap, settings.dead_letter_topic, 1)

    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{hp}" for hp in bootstrap.split(",")],
        store="memory://",
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
    registry = RegistryClient(settings.registry_url)
    decode = AvroDecoder(registry)
    encode = AvroEncoder(registry, f"{settings.view_topic}-value", model.schema("ResidentProfile"))
    key_encode = AvroEncoder(registry, f"{settings.view_topic}-key", model.KEY_SCHEMA)
    parts = {settings.resident_topic: profile.REGISTRATION, settings.subsidy_topic: profile.SUBSIDY}

    sources = app.topic(
        settings.resident_topic,
        settings.subsidy_topic,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
    )
    view = app.topic(settings.view_topic, key_type=bytes, value_type=bytes, partitions=settings.partitions)
    dead = app.topic(settings.dead_letter_topic, key_type=bytes, value_type=bytes, partitions=1)
    table = app.Table(
        "resident-profile",
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        help="encoded ResidentProfile by ID key",
    )

    @app.task  # type: ignore[untyped-decorator]
    async def register_schemas() -> None:
        key_encode("warm-up")  # registers the view's key and value schemas before any event
        encode(profile.empty("0"))

    async def dead_letter(event: EventT[bytes], reason: str) -> None:
        metrics.STREAMS_DEAD_LETTERS.labels(PROCESSOR).inc()
        msg = event.message
        body = {
            "processor": PROCESSOR,
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "reason": reason,
        }
        log.warning("streams.dead_letter", **body)
        await dead.send(key=msg.key, value=json.dumps(body, ensure_ascii=False).encode())

    @app.agent(sources)  # type: ignore[arg-type]
    async def join(stream: faust.Stream[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            topic = event.message.topic
            metrics.STREAMS_EVENTS.labels(PROCESSOR, topic).inc()
            try:
                key = event.key
                if not isinstance(key, bytes):
                    raise ValueError("event has no key")
                resident_id = str(decode(key))
                envelope: Any = decode(event.value) if event.value is not None else None
                current = table.get(key)
                before = decode(current) if current is not None else profile.empty(resident_id)
                after = profile.apply(before, parts[topic], envelope)
                value = encode(after) if after is not None else None
            except Exception as exc:  # a bad event is data: dead-letter it, keep the stream
                await dead_letter(event, f"{type(exc).__name__}: {exc}")
                yield None
                continue
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
            await view.send(key=key, value=value)
            metrics.STREAMS_VIEW_UPDATES.labels(PROCESSOR).inc()
            yield None

    return app
