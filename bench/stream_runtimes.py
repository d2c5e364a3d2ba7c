"""What the view's fold costs under faust against the same fold on bare client loops.

    .venv/bin/python -m bench.stream_runtimes RESIDENT_TOPIC SUBSIDY_TOPIC [--count N]

Reads two department topics (``bench.streams`` prints the ones it fills) and runs the shipped
resident view's per-event work (:func:`civicbus.streams.views.app.step`: decode, fold, render,
encode) with the same codec three ways, each writing the view record and the state changelog
record to fresh topics, as the worker does:

1. in-process, no Kafka at all (the fold's own ceiling);
2. a bare aiokafka consumer and producer loop (faust's client, without faust);
3. a bare confluent-kafka consumer and producer loop (librdkafka).

These loops have no consumer group, no commit and no transaction: they bound what a runtime on
each client could reach, so the choice of the streams runtime can be made by numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from civicbus.core.kafka import ensure_topic
from civicbus.schemas.registry_client import RegistryClient
from civicbus.streams.codec import AvroCodec
from civicbus.streams.views.app import step
from civicbus.streams.views.catalog import load_all


def messages(bootstrap: str, topics: list[str], count: int) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    got: list[Any] = []
    while len(got) < count:
        for records in consumer.poll(timeout_ms=1000).values():
            got.extend(records)
    consumer.close()
    return got[:count]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("resident_topic")
    parser.add_argument("subsidy_topic")
    parser.add_argument("--count", type=int, default=60_000)
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    registry = RegistryClient(os.environ.get("CIVICBUS_REGISTRY_URL", "http://127.0.0.1:8081"))
    tag = uuid.uuid4().hex[:6]
    spec = next(v for v in load_all() if v.name == "resident-profile").model_copy(
        update={"topic": f"bench.rt.view.{tag}"}
    )
    codec = AvroCodec(registry, spec)
    for name in (spec.topic, f"{spec.topic}.changelog"):
        ensure_topic(bootstrap, name, 3, compacted=True)
    index = {args.resident_topic: 0, args.subsidy_topic: 1}
    topics = [args.resident_topic, args.subsidy_topic]

    msgs = messages(bootstrap, topics, args.count)
    table: dict[bytes, bytes] = {}
    began = time.monotonic()
    for m in msgs:
        step(table, codec, spec, index[m.topic], m.value, m.offset)
    inproc = len(msgs) / (time.monotonic() - began)

    results = {
        "fold alone, in process (no Kafka)": inproc,
        "aiokafka consumer + producer loop": asyncio.run(
            _aiokafka(bootstrap, topics, index, spec, codec, args.count)
        ),
        "confluent-kafka consumer + producer loop": _confluent(
            bootstrap, topics, index, spec, codec, args.count
        ),
    }
    print(f"\n{args.count:,} events of {', '.join(topics)}; each loop writes the view and the changelog")
    print(f"{'runtime':<48}{'events/s':>12}")
    for what, rate in results.items():
        print(f"{what:<48}{rate:>12,.0f}")


async def _aiokafka(
    bootstrap: str, topics: list[str], index: dict[str, int], spec: Any, codec: Any, count: int
) -> float:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    tag = uuid.uuid4().hex[:6]
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=f"bench-rt-{tag}", auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all"
    )
    await consumer.start()
    await producer.start()
    table: dict[bytes, bytes] = {}
    seen, began = 0, 0.0
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batch and not began:
                began = time.monotonic()
            pending = []
            for records in batch.values():
                for m in records:
                    out = step(table, codec, spec, index[m.topic], m.value, m.offset)
                    if out.changed and out.key is not None:
                        pending.append(await producer.send(spec.topic, out.value, key=out.key))
                        pending.append(
                            await producer.send(f"{spec.topic}.changelog", table[out.key], key=out.key)
                        )
                    seen += 1
            if pending:
                await asyncio.gather(*pending)
        return seen / (time.monotonic() - began)
    finally:
        await consumer.stop()
        await producer.stop()


def _confluent(
    bootstrap: str, topics: list[str], index: dict[str, int], spec: Any, codec: Any, count: int
) -> float:
    from confluent_kafka import Consumer, Producer

    tag = uuid.uuid4().hex[:6]
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-rt-{tag}", "auto.offset.reset": "earliest"}
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    failed: list[Any] = []

    def delivered(err: Any, _: Any) -> None:
        if err is not None:
            failed.append(err)

    consumer.subscribe(topics)
    table: dict[bytes, bytes] = {}
    seen, began = 0, 0.0
    try:
        while seen < count:
            batch = consumer.consume(num_messages=5000, timeout=1.0)
            if batch and not began:
                began = time.monotonic()
            for m in batch:
                if m.error():
                    continue
                out = step(table, codec, spec, index[m.topic()], m.value(), m.offset())
                if out.changed and out.key is not None:
                    producer.produce(spec.topic, out.value, out.key, on_delivery=delivered)
                    producer.produce(
                        f"{spec.topic}.changelog", table[out.key], out.key, on_delivery=delivered
                    )
                    producer.poll(0)
                seen += 1
        producer.flush()
        if failed:
            raise SystemExit(f"confluent-kafka: {len(failed)} deliveries failed, e.g. {failed[0]}")
        return seen / (time.monotonic() - began)
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
