"""Connector positions, durable in a compacted Kafka topic keyed by connector name.

:meth:`PositionStore.save` returns only once the broker acknowledged the write; the runner calls
it only after every event before that position was acknowledged. So the saved position is never
ahead of what was delivered: a restart may re-send the last batch, and never skips one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from .delivery import Ack, DeliveryFailed, Producer

Reader = Callable[[str], Iterable[tuple[bytes | None, bytes | None]]]
"""Every (key, value) of a topic from its start to its end now (``core.kafka.read_to_end``)."""


class PositionStore:
    def __init__(self, producer: Producer, topic: str, read: Reader) -> None:
        self._producer = producer
        self._topic = topic
        self._read = read

    def load(self, connector: str) -> Any | None:
        """The last saved position of ``connector``; None if it never saved one."""
        key = connector.encode()
        last: Any | None = None
        for k, v in self._read(self._topic):
            if k == key:
                last = json.loads(v) if v is not None else None
        return last

    def stage(self, connector: str, position: Any) -> Ack:
        """Send ``position`` without waiting: inside a transaction, it commits with the batch."""
        value = json.dumps(position, ensure_ascii=False).encode()
        return self._producer.send(self._topic, key=connector.encode(), value=value)

    def save(self, connector: str, position: Any, timeout_s: float = 60) -> None:
        """Write ``position`` and wait for the broker; DeliveryFailed if it was not stored."""
        try:
            self.stage(connector, position).get(timeout=timeout_s)
        except Exception as exc:
            raise DeliveryFailed(f"position of {connector} not saved: {exc}") from exc
