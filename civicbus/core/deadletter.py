"""The one dead-letter record format, for connectors and stream processors alike.

Bad input is data: whatever cannot become a canonical event (a row that does not map, a file
that is not a spreadsheet, an event that does not decode) is produced to a dead-letter topic with
the reason, never dropped and never a crash. Every dead letter is a JSON object with the same
fields, whoever wrote it:

``origin`` (the connector, processor or sink name), ``origin_kind`` (``connector`` |
``processor`` | ``sink``),
``source`` (where the input came from: database, table and department; or topic, partition and
offset), ``key`` (the input's key, as text), ``position`` (where it was read, opaque),
``field`` (what was wrong: a canonical field, or ``(record)``, ``(file)``, ``(event)``),
``reason``, ``row`` (the source columns as text, or null), ``payload`` (the raw input bytes in
base64, or null: what a replay re-sends) and ``ts_ms``.

The headers ``civicbus.origin``, ``civicbus.error.field`` and ``civicbus.error.reason`` repeat the
routing facts so a consumer can route without parsing; the record key is ``key`` as sorted JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

OriginKind = Literal["connector", "processor", "sink"]
HEADER_ORIGIN = "civicbus.origin"
HEADER_FIELD = "civicbus.error.field"
HEADER_REASON = "civicbus.error.reason"


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class DeadLetter:
    origin: str
    origin_kind: OriginKind
    source: Mapping[str, Any]
    key: Mapping[str, Any]
    position: Any
    field: str
    reason: str
    row: Mapping[str, Any] | None = None
    payload: bytes | None = None
    ts_ms: int = dataclasses.field(default_factory=_now_ms)

    def body(self) -> dict[str, Any]:
        """The JSON object of the record's value (values of ``key`` and ``row`` as text)."""
        return {
            "origin": self.origin,
            "origin_kind": self.origin_kind,
            "source": dict(self.source),
            "key": {k: str(v) for k, v in self.key.items()},
            "position": self.position,
            "field": self.field,
            "reason": self.reason,
            "row": None
            if self.row is None
            else {k: None if v is None else str(v) for k, v in self.row.items()},
            "payload": None if self.payload is None else base64.b64encode(self.payload).decode("ascii"),
            "ts_ms": self.ts_ms,
        }

    @classmethod
    def of_record(cls, origin: str, msg: Any, field: str, reason: str) -> DeadLetter:
        """The dead letter of a Kafka record (librdkafka's message) a processor could not apply:
        where it was read is its source and position, its raw value the payload a replay re-sends."""
        where = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}
        key = msg.key()
        return cls(
            origin=origin,
            origin_kind="processor",
            source=where,
            key={"b64": base64.b64encode(key).decode() if key is not None else ""},
            position=where,
            field=field,
            reason=reason,
            payload=msg.value(),
        )

    def encode(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(record key, record value, headers) as produced to the dead-letter topic."""
        body = self.body()
        key = json.dumps(body["key"], ensure_ascii=False, sort_keys=True).encode()
        value = json.dumps(body, ensure_ascii=False, default=str).encode()
        headers = [
            (HEADER_ORIGIN, self.origin.encode()),
            (HEADER_FIELD, self.field.encode()),
            (HEADER_REASON, self.reason.encode()),
        ]
        return key, value, headers

    @classmethod
    def decode(cls, value: bytes) -> DeadLetter:
        """A dead letter read back from its topic; ValueError if ``value`` is not one."""
        try:
            body = json.loads(value)
            payload = body.get("payload")
            return cls(
                origin=body["origin"],
                origin_kind=body["origin_kind"],
                source=body["source"],
                key=body["key"],
                position=body["position"],
                field=body["field"],
                reason=body["reason"],
                row=body.get("row"),
                payload=None if payload is None else base64.b64decode(payload),
                ts_ms=int(body["ts_ms"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a civicbus dead letter: {exc}") from None
