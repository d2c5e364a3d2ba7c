"""Signals to running connectors: a command on a Kafka topic, as Debezium's signalling channel.

``civicbus connectors snapshot FILE`` sends ``{"action": "snapshot"}`` keyed by the connector's
name; the connector reads the topic with a consumer group of its own
(``civicbus.connector.<name>.signals``) that keeps only its offset, so a signal sent while it is
down is acted on when it starts. The topic has one partition. The engine takes
them (:meth:`Signals.take`) between polls and hands each to its source.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any

import structlog
from kafka import TopicPartition

from civicbus.core.kafka import consumer, ensure_topic, producer

log = structlog.get_logger(__name__)
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
    """The signals addressed to one connector, read on a thread of its own.

    The thread long-polls the topic (returning within ``every_s`` when nothing comes, so
    :meth:`close` is prompt) and commits each signal's offset once it is queued; the engine takes
    them between polls with :meth:`take`, which never waits and never raises. A read that fails
    (the broker away) is logged as ``signal.read_failed`` and tried again ``every_s`` later: the
    signal waits in its topic.

    Why a thread: when a kafka-python 3 poll finds nothing, an exception raised and caught inside
    it forms a reference cycle with its traceback, which holds every calling frame and their
    locals until the cyclic collector runs; polled from the engine, that kept whole batches alive.
    """

    def __init__(self, bootstrap: str, topic: str, connector: str, every_s: float = 0.5) -> None:
        self._name = connector.encode()
        self._connector = connector
        self._every_s = every_s
        ensure_topic(bootstrap, topic)
        self._consumer = consumer(
            bootstrap, "signal consumer", group_id=f"civicbus.connector.{connector}.signals"
        )
        # assigned, not subscribed: no group join to wait for; the group only keeps the offset
        # of the last signal taken
        partition = TopicPartition(topic, 0)
        self._consumer.assign([partition])
        committed = self._consumer.committed(partition)
        if committed is None:
            self._consumer.seek_to_beginning(partition)
        else:
            self._consumer.seek(partition, committed)
        self._found: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._follow, name=f"signals:{connector}", daemon=True)
        self._reader.start()

    def take(self) -> list[dict[str, Any]]:
        """Signals for this connector since the last call (others' are passed over); a signal
        that is not JSON with an ``action`` comes back as ``{"action": None, "raw": …}``."""
        found: list[dict[str, Any]] = []
        while True:
            try:
                found.append(self._found.get_nowait())
            except queue.Empty:
                return found

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._read()
            except Exception as exc:  # whatever the client raised: read again later
                log.warning("signal.read_failed", connector=self._connector, error=str(exc))
                self._stop.wait(self._every_s)

    def _read(self) -> None:
        batches = self._consumer.poll(timeout_ms=int(self._every_s * 1000))
        found = 0
        for records in batches.values():
            for record in records:
                if record.key != self._name:
                    continue
                try:
                    signal = json.loads(record.value)
                    if not isinstance(signal, dict) or "action" not in signal:
                        raise ValueError(signal)
                except ValueError:
                    signal = {"action": None, "raw": repr(record.value)[:200]}
                self._found.put(signal)
                found += 1
        if found:
            self._consumer.commit()

    def close(self) -> None:
        """Stop reading (waits for the poll under way) and leave the group's offset as it is."""
        self._stop.set()
        self._reader.join()
        self._consumer.close(autocommit=False)
