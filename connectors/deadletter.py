"""Dead letters: a row that cannot become a canonical event is produced, with its reason, to the
connector's dead-letter topic — never dropped, never a crash.

The value is JSON (the row did not fit the schema, so it cannot be Avro of it): connector,
source database/table/key, position, field, reason, and the row's columns as text. The field and
reason are also headers, so a consumer can route without parsing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from ops import metrics


class DeadLetters:
    def __init__(
        self, producer: KafkaProducer, topic: str, connector: str, source: Mapping[str, str]
    ) -> None:
        self.topic = topic
        self._producer = producer
        self._connector = connector
        self._source = dict(source)

    def send(
        self, row: Mapping[str, Any], key: Mapping[str, Any], position: Any, field: str, reason: str
    ) -> FutureRecordMetadata:
        body = {
            "connector": self._connector,
            "source": self._source,
            "key": {k: str(v) for k, v in key.items()},
            "position": position,
            "field": field,
            "reason": reason,
            "row": {k: None if v is None else str(v) for k, v in row.items()},
            "ts_ms": int(time.time() * 1000),
        }
        metrics.CONNECTOR_DEAD_LETTERS.labels(self._connector, field).inc()
        return self._producer.send(
            self.topic,
            key=json.dumps(body["key"], ensure_ascii=False, sort_keys=True).encode(),
            value=json.dumps(body, ensure_ascii=False).encode(),
            headers=[("civicbus.error.field", field.encode()), ("civicbus.error.reason", reason.encode())],
        )
