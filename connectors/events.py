"""A source row becomes its canonical change event: mapped, enveloped, encoded.

The envelope is Debezium's (``op``, ``before``, ``after``, ``source``, ``ts_ms``) plus
``source_ts_ms`` and ``quality`` (fields nulled by ``on_invalid: flag``, with the reason). The key
is the canonical key field as an Avro string, so departments' topics co-partition. A row that
cannot be mapped or does not fit the schema raises :class:`Rejected` naming the field: the
runner dead-letters it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from civicbus.schemas.wire import SerializationError

from .base import SourceRow
from .mapping import Mapper, MappingError

Encode = Callable[[Any], bytes]


class Rejected(Exception):
    """A row that cannot become an event; ``field`` and ``reason`` go into its dead letter."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Event:
    key: bytes
    value: bytes


class EventBuilder:
    """Encodes the events of one connector; ``source`` is the envelope's fixed ``source`` block."""

    def __init__(
        self,
        mapper: Mapper,
        key_field: str,
        source: Mapping[str, str],
        encode_key: Encode,
        encode_value: Encode,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._mapper = mapper
        self._key_field = key_field
        self._source = dict(source)
        self._encode_key = encode_key
        self._encode_value = encode_value
        self._clock = clock

    def event(self, row: SourceRow) -> Event:
        """The encoded event of ``row``; raises :class:`Rejected` if it cannot be one."""
        if row.error is not None:
            raise Rejected("(source)", row.error)
        try:
            record, flags = self._mapper(row.values)
        except MappingError as exc:
            raise Rejected(exc.field, exc.reason) from exc
        return self._encode(row, record, flags)

    def deletion(self, row: SourceRow, before: dict[str, Any]) -> Event:
        """The delete event of a row that is gone, ``before`` being its last delivered record."""
        return self._encode(row, before, [])

    def _before(self, row: SourceRow) -> dict[str, Any] | None:
        """The mapped row before an update, where the source gave it; None if it cannot be
        mapped (the event still carries the change: an old value that no longer passes a rule
        does not stop the new one)."""
        if row.before is None or row.op != "u":
            return None
        try:
            record, _ = self._mapper(row.before)
        except MappingError:
            return None
        return record

    def _encode(self, row: SourceRow, record: dict[str, Any], flags: list[str]) -> Event:
        deleted = row.op == "d"
        txn = row.transaction
        envelope = {
            "op": row.op,
            "before": record if deleted else self._before(row),
            "after": None if deleted else record,
            "source": {
                **self._source,
                "key": json.dumps({k: str(v) for k, v in row.key.items()}, ensure_ascii=False),
                "position": orjson.dumps(row.position).decode(),
            },
            "ts_ms": int(self._clock() * 1000),
            "source_ts_ms": row.source_ts_ms,
            "quality": flags,
            "transaction": {"id": txn.id, "order": txn.order} if txn is not None else None,
        }
        try:
            return Event(self._encode_key(str(record[self._key_field])), self._encode_value(envelope))
        except SerializationError as exc:
            raise Rejected("(record)", str(exc)) from exc
