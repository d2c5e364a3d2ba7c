"""A view's changelog topic: its name, and reading its tail into a store."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from .stores import Store

CHUNK = 5000
"""Changelog records applied to a store per write while restoring."""


def topic(app_id: str, view: str) -> str:
    """The changelog of ``view``'s states for the worker group ``app_id`` (compacted)."""
    return f"{app_id}-view-{view}-changelog"


METADATA_WAIT_S = 30.0


def _wait_for(consumer: Any, name: str, partition: int) -> None:
    """A topic just created may take a moment to reach the client's metadata."""
    deadline = time.monotonic() + METADATA_WAIT_S
    while True:
        found = consumer.list_topics(name, timeout=5).topics.get(name)
        if found is not None and found.error is None and partition in found.partitions:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}[{partition}] is not in the broker's metadata")
        time.sleep(0.2)


def restore(consumer: Any, name: str, partition: int, store: Store) -> int:
    """Apply the changelog partition past the store's checkpoint to it; the number of records read.

    ``consumer`` is a confluent-kafka consumer reading ``read_committed`` with partition EOF events
    on, used by nothing else meanwhile. Reads up to the last stable offset: the end of what is
    committed; a transaction still open on the partition belongs to a worker that no longer owns
    it, and is aborted by the broker at its timeout.
    """
    start = store.checkpoint if store.checkpoint > 0 else OFFSET_BEGINNING
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=30)
    except KafkaException:  # a topic just created may not be in the client's metadata yet
        _wait_for(consumer, name, partition)
        low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=30)
    if high <= max(store.checkpoint, low):
        return 0
    consumer.assign([TopicPartition(name, partition, start)])
    read = 0
    pending: dict[bytes, bytes | None] = {}
    position = store.checkpoint
    try:
        while True:
            done = False
            # consume() waits for a full chunk or the timeout, even past the end: keep it short
            for msg in consumer.consume(num_messages=CHUNK, timeout=0.1):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        done = True
                        position = max(position, msg.offset() or 0)  # past trailing markers too
                        continue
                    raise RuntimeError(f"reading {name}[{partition}]: {err}")
                key = msg.key()
                if key is not None:
                    pending[key] = msg.value()
                position = msg.offset() + 1
                read += 1
            if pending or done:
                store.write(pending, position)
                pending = {}
            if done:
                return read
    finally:
        consumer.unassign()
