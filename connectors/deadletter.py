"""A connector's dead letters: input that cannot become a canonical event, produced with its reason.

Never dropped, never a crash: a row that does not map, a record that does not fit the schema, a
file that is not a ledger. The record is civicbus's one dead-letter format
(``civicbus.core.deadletter``) with the row's columns as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from civicbus.core.deadletter import DeadLetter
from civicbus.ops import metrics

from .delivery import Ack, Producer


class DeadLetters:
    def __init__(self, producer: Producer, topic: str, connector: str, source: Mapping[str, str]) -> None:
        self.topic = topic
        self._producer = producer
        self._connector = connector
        self._source = dict(source)

    def send(
        self, row: Mapping[str, Any], key: Mapping[str, Any], position: Any, field: str, reason: str
    ) -> Ack:
        """Produce one dead letter (not waited for: it is acknowledged with its batch)."""
        letter = DeadLetter(
            origin=self._connector,
            origin_kind="connector",
            source=self._source,
            key=key,
            position=position,
            field=field,
            reason=reason,
            row=row,
        )
        metrics.CONNECTOR_DEAD_LETTERS.labels(self._connector, field).inc()
        k, v, headers = letter.encode()
        return self._producer.send(self.topic, key=k, value=v, headers=headers)
