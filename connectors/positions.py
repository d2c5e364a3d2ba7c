"""Connector positions, durable in a compacted Kafka topic keyed by connector name.

:meth:`PositionStore.save` returns only once the broker acknowledged the write; the runner calls
it only after every event before that position was acknowledged. So the saved position is never
ahead of what was delivered: a restart may re-send the last batch, and never skips one.
"""

from __future__ import annotations

import json
from typing import Any

from kafka import KafkaProducer

from civicbus.kafka import ensure_topic, read_to_end


class PositionStore:
    def __init__(self, bootstrap: str, topic: str, producer: KafkaProducer) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._producer = producer
        ensure_topic(bootstrap, topic, partitions=1, compacted=True)

    def load(self, connector: str) -> Any | None:
        """The last saved position of ``connector``; None if it never saved one."""
        key = connector.encode()
        last: Any | None = None
        for k, v in read_to_end(self._bootstrap, self._topic):
            if k == key:
                last = json.loads(v) if v is not None else None
        return last

    def save(self, connector: str, position: Any, timeout_s: float = 60) -> None:
        value = json.dumps(position, ensure_ascii=False).encode()
        self._producer.send(self._topic, key=connector.encode(), value=value).get(timeout=timeout_s)
