"""What the view's fold costs on each Kafka client, to choose the streams engine's by numbers.

    .venv/bin/python -m bench.stream_runtimes RESIDENT_TOPIC SUBSIDY_TOPIC [--count N]

Reads two department topics (``bench.streams`` prints the ones it fills) and runs the shipped
resident view's batch fold (:func:`civicbus.streams.engine.batch.fold_batch`: decode, fold,
render, encode) with the same codec, each way writing the view records and the state changelog
records to fresh topics, as the worker does:

1. in-process, no Kafka at all, one event per batch and whole batches (the fold's own ceiling);
2. a bare aiokafka consumer and producer loop (faust's client);
3. a bare confluent-kafka consumer and producer loop (librdkafka; the engine's client).

These loops have no consumer group, no commit and no transaction: they bound what an engine on
each client could reach. The engine itself (groups, transactions, stores) is measured by
``bench.streams``.
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
from civicbus.streams.engine.batch import fold_batch
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

    msgs = [
        Record(m.topic, m.partition, m.offset, m.key, m.value)
        for m in messages(bootstrap, topics, args.count)
    ]
    single, whole = in_process(spec, codec, index, msgs, 1), in_process(spec, codec, index, msgs, 2000)

    results = {
        "fold alone, in process, 1 event per batch": single,
        "fold alone, in process, 2000 events per batch": whole,
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


class Record:
    """A consumed message with confluent-kafka's accessors, as ``fold_batch`` reads it."""

    __slots__ = ("_k", "_o", "_p", "_t", "_v")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None):
        self._t, self._p, self._o, self._k, self._v = topic, partition, offset, key, value

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return self._k

    def value(self) -> bytes | None:
        return self._v


def fold(spec: Any, codec: Any, index: dict[str, int], table: dict[bytes, bytes], batch: list[Any]) -> Any:
    """Fold one consumed batch into ``table`` as the engine does (all partitions in one store)."""
    out = fold_batch(spec, codec, table.get, [(index[m.topic()], m) for m in batch])
    table.update(out.states)
    return out


def in_process(spec: Any, codec: Any, index: dict[str, int], msgs: list[Record], size: int) -> float:
    table: dict[bytes, bytes] = {}
    began = time.monotonic()
    for at in range(0, len(msgs), size):
        fold(spec, codec, index, table, msgs[at : at + size])
    return len(msgs) / (time.monotonic() - began)


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
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            if batch and not began:
                began = time.monotonic()
            pending = []
            got = [
                Record(m.topic, m.partition, m.offset, m.key, m.value) for rs in batch.values() for m in rs
            ]
            out = fold(spec, codec, index, table, got)
            for key, value in out.records.items():
                pending.append(await producer.send(spec.topic, value, key=key))
            for key, value in out.states.items():
                pending.append(await producer.send(f"{spec.topic}.changelog", value, key=key))
            seen += len(got)
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
            batch = consumer.consume(num_messages=2000, timeout=1.0)
            if batch and not began:
                began = time.monotonic()
            got = [m for m in batch if not m.error()]
            out = fold(spec, codec, index, table, got)
            for key, value in out.records.items():
                producer.produce(spec.topic, value, key, on_delivery=delivered)
            for key, value in out.states.items():
                producer.produce(f"{spec.topic}.changelog", value, key, on_delivery=delivered)
            producer.poll(0)
            seen += len(got)
        producer.flush()
        if failed:
            raise SystemExit(f"confluent-kafka: {len(failed)} deliveries failed, e.g. {failed[0]}")
        return seen / (time.monotonic() - began)
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
