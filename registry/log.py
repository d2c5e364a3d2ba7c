"""Where the registry's records live: a compacted Kafka topic (tests use a list).

A :class:`RecordLog` hands the store every record ever appended, in order, and appends new ones;
``append`` returns only once the record is durable, so the store applies a change to its state
only after it can no longer be lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from kafka import KafkaProducer

from civicbus.core.kafka import ensure_topic, producer, read_to_end
from civicbus.schemas.registry_errors import RegistryError


class RecordLog(Protocol):
    def replay(self) -> Iterable[tuple[bytes | None, bytes | None]]:
        """Every (key, value) appended so far, oldest first; called once, before any append."""
        ...

    def append(self, key: bytes, value: bytes | None) -> None:
        """Store one record durably or raise RegistryError 50001."""
        ...

    def close(self) -> None: ...


class KafkaLog:
    """The records in one single-partition compacted topic (created on first replay)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._producer: KafkaProducer | None = None

    def replay(self) -> Iterable[tuple[bytes | None, bytes | None]]:
        ensure_topic(
            self._bootstrap, self._topic, partitions=1, compacted=True, config={"min.insync.replicas": "1"}
        )
        yield from read_to_end(self._bootstrap, self._topic)
        self._producer = producer(self._bootstrap, "registry producer", linger_ms=0)

    def append(self, key: bytes, value: bytes | None) -> None:
        assert self._producer is not None, "KafkaLog.replay() was not called"
        try:
            self._producer.send(self._topic, key=key, value=value).get(timeout=30)
        except Exception as exc:
            raise RegistryError(RegistryError.STORE_ERROR, f"could not store: {exc}") from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
