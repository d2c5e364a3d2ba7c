"""Signals to running connectors: a command on a Kafka topic, as Debezium's signalling channel.

``civicbus connectors snapshot FILE`` sends ``{"action": "snapshot"}`` keyed by the connector's
name; the connector reads the topic with a consumer group of its own
(``civicbus.connector.<name>.signals``) that keeps only its offset, so a signal sent while it is
down is acted on when it starts. The topic has one partition. The engine asks
:meth:`Signals.take` between polls and hands each signal to its source.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from kafka import TopicPartition

from civicbus.core.kafka import consumer, ensure_topic, producer

ACTIONS = ("snapshot",)


def send(bootstrap: str, topic: str, connector: str, action: str) -> str:
    """Send ``action`` to ``connector``; returns the signal's id (logged when it is acted on)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown signal {action!r}; known: {', '.join(ACTIONS)}")
    ensure_topic(bootstrap, topic)
    signal_id = uuid.uuid4().hex
    value = {"action": action, "id": signal_id, "sent_ms": int(time.time() * 1000)}
    client = producer(bootstrap, "signal producer")
    try:
        client.send(topic, key=connector.encode(), value=json.dumps(value).encode()).get(timeout=30)
    finally:
        client.close()
    return signal_id


class Signals:
    """The signals addressed to one connector, polled at most every ``every_s``."""

    def __init__(self, bootstrap: str, topic: str, connector: str, every_s: float = 1.0) -> None:
        self._name = connector.encode()
        self._every_s = every_s
        self._at = 0.0
        ensure_topic(bootstrap, topic)
        self._consumer = consumer(
            bootstrap, "signal consumer", group_id=f"civicbus.connector.{connector}.signals"
        )
        # assigned, not subscribed: no group join to wait for, so a poll that does not block
        # still fetches; the group only keeps the offset of the last signal acted on
        partition = TopicPartition(topic, 0)
        self._consumer.assign([partition])
        committed = self._consumer.committed(partition)
        if committed is None:
            self._consumer.seek_to_beginning(partition)
        else:
            self._consumer.seek(partition, committed)

    def take(self) -> list[dict[str, Any]]:
        """Signals for this connector since the last call (others' are passed over); a signal
        that is not JSON with an ``action`` comes back as ``{"action": None, "raw": …}``."""
        now = time.monotonic()
        if now - self._at < self._every_s:
            return []
        self._at = now
        found: list[dict[str, Any]] = []
        for records in self._consumer.poll(timeout_ms=0).values():
            for record in records:
                if record.key != self._name:
                    continue
                try:
                    signal = json.loads(record.value)
                    if not isinstance(signal, dict) or "action" not in signal:
                        raise ValueError(signal)
                except ValueError:
                    signal = {"action": None, "raw": repr(record.value)[:200]}
                found.append(signal)
        if found:
            self._consumer.commit()
        return found

    def close(self) -> None:
        self._consumer.close(autocommit=False)
