"""``civicbus tail``: print a topic's records as a downstream app sees them.

Each record is one JSON line: topic, partition, offset, key and value decoded through the
registry (dates and decimals as strings). A record that is not Confluent-framed Avro (a dead
letter, say) is printed as its UTF-8 text. Uses no consumer group: tailing changes nothing.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

import click
from kafka import TopicPartition
from kafka.errors import TopicAuthorizationFailedError

from civicbus.core.kafka import check_authorized, consumer
from civicbus.core.settings import BusSettings
from civicbus.ops.logging import configure
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder, SerializationError

from .common import fail, settings


def _decode(decoder: AvroDecoder, data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return decoder(data)
    except SerializationError:
        text = data.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text


def tail(
    bootstrap: str,
    registry_url: str,
    topic: str,
    from_beginning: bool,
    max_records: int | None,
    timeout_s: float | None,
    out: TextIO = sys.stdout,
) -> int:
    """Print records until ``max_records`` were printed or ``timeout_s`` passed; returns the count."""
    decoder = AvroDecoder(RegistryClient(registry_url))
    client = consumer(bootstrap, "tail consumer")
    deadline = time.monotonic() + timeout_s if timeout_s else None
    count = 0
    try:
        parts: set[int] = client.partitions_for_topic(topic) or set()
        if not parts:  # refused, or not there yet: asked once, by name
            check_authorized(bootstrap, topic)
        while not parts:
            parts = client.partitions_for_topic(topic) or set()
            if not parts:
                if deadline and time.monotonic() > deadline:
                    return 0
                time.sleep(0.5)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        client.assign(tps)
        if from_beginning:
            client.seek_to_beginning(*tps)
        else:
            client.seek_to_end(*tps)
        while (max_records is None or count < max_records) and (
            deadline is None or time.monotonic() < deadline
        ):
            for tp, records in client.poll(timeout_ms=200).items():
                for rec in records:
                    line = {
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "offset": rec.offset,
                        "key": _decode(decoder, rec.key),
                        "value": _decode(decoder, rec.value),
                    }
                    out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
                    out.flush()
                    count += 1
                    if max_records is not None and count >= max_records:
                        return count
    finally:
        client.close()
    return count


@click.command("tail")
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="start at the oldest record, not at now")
@click.option("--max-records", type=int, default=None, help="stop after this many records")
@click.option("--timeout", "timeout_s", type=float, default=None, help="stop after this many seconds")
def command(topic: str, from_beginning: bool, max_records: int | None, timeout_s: float | None) -> None:
    """Print each record of TOPIC as a JSON line, decoded through the registry.

    It reads as the process's principal (CIVICBUS_KAFKA_USERNAME …): an app sees its own topics
    only; a topic the broker refuses exits 3 saying so."""
    configure("WARNING")
    s = settings(BusSettings)
    try:
        tail(s.bootstrap_servers, s.registry_url, topic, from_beginning, max_records, timeout_s)
    except TopicAuthorizationFailedError:
        fail(f"the broker refuses {topic} to this principal: it has no grant for it", 3)
