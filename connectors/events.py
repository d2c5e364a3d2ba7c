"""A source row becomes its canonical change event: mapped, enveloped, encoded.

The envelope is Debezium's (``op``, ``before``, ``after``, ``source``, ``ts_ms``) plus
``source_ts_ms`` and ``quality`` (fields nulled by ``on_invalid: flag``, with the reason). The key
is the canonical key field as an Avro string, so departments' topics co-partition. A row that
cannot be mapped or does not fit the schema raises :class:`Rejected` naming the field: the
runner dead-letters it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from civicbus.schemas.envelope_wire import EnvelopeEncoder
from civicbus.schemas.wire import AvroEncoder, SerializationError

from .mapping import Mapper, MappingError, Rule
from .rows import SourceRow

Encode = Callable[[Any], bytes]


def key_json(key: Mapping[str, Any]) -> str:
    """The source key as JSON text of strings, ``{"a": "1", "b": "x"}``: exactly what
    ``json.dumps({k: str(v)}, ensure_ascii=False)`` writes, built with orjson's string escaping."""
    dumps = orjson.dumps
    return "{" + ", ".join(dumps(k).decode() + ": " + dumps(str(v)).decode() for k, v in key.items()) + "}"


class Rejected(Exception):
    """A row that cannot become an event; ``field`` and ``reason`` go into its dead letter."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(slots=True)
class Event:
    """One encoded change event. Not frozen (a frozen dataclass's ``__init__`` costs 0.3 µs more,
    for every row of a snapshot), but nothing changes an event once made."""

    key: bytes
    value: bytes


class Encoding(Protocol):
    """A batch being encoded: :meth:`result` finishes it."""

    shared: bool
    """Whether other processes already work on it (the engine then reads on meanwhile)."""

    def result(self) -> list[Event | Rejected]:
        """Each row's event or the reason it cannot be one, in the rows' order; called once."""
        ...


class Events(Protocol):
    """What the engine asks of its event encoding (an :class:`EventBuilder`, or a pool of them)."""

    def submit(self, rows: Sequence[SourceRow]) -> Encoding:
        """Start encoding ``rows`` (work may begin elsewhere at once). The engine takes results
        in the order it submitted, and submits at most one batch past the oldest not taken; a
        batch submitted before the one whose result is taken and never taken is dropped."""
        ...

    def deletion(self, row: SourceRow, before: dict[str, Any]) -> Event:
        """The delete event of a row that is gone, ``before`` being its last delivered record."""
        ...

    def close(self) -> None:
        """Release what encoding holds (processes); called once, when the connector stops."""
        ...


class Deferred:
    """An encoding done on :meth:`result`, in the caller's thread."""

    shared = False

    def __init__(self, event: Callable[[SourceRow], Event], rows: Sequence[SourceRow]) -> None:
        self._event = event
        self._rows = rows

    def result(self) -> list[Event | Rejected]:
        return each_event(self._event, self._rows)


def each_event(event: Callable[[SourceRow], Event], rows: Sequence[SourceRow]) -> list[Event | Rejected]:
    """``event`` of each row, a :class:`Rejected` in place of a row it refuses."""
    out: list[Event | Rejected] = []
    for row in rows:
        try:
            out.append(event(row))
        except Rejected as exc:
            out.append(exc)
    return out


@dataclass(frozen=True)
class EventSpec:
    """Everything an :class:`EventBuilder` is made of, picklable: so another process builds the
    same one. The schema IDs are those the registry gave when the connector registered."""

    rules: Mapping[str, Rule]
    entity: dict[str, Any]
    zone: dt.tzinfo
    key_field: str
    source: Mapping[str, str]
    key_subject: str
    key_schema: dict[str, Any] | str
    key_id: int
    value_subject: str
    value_schema: dict[str, Any] | str
    value_id: int

    def builder(self) -> EventBuilder:
        if isinstance(self.value_schema, str):
            raise ValueError(
                f"{self.value_subject}: an envelope schema is a record, not {self.value_schema!r}"
            )
        return EventBuilder(
            Mapper(self.rules, self.entity, self.zone),
            self.key_field,
            AvroEncoder(None, self.key_subject, self.key_schema, schema_id=self.key_id),
            EnvelopeEncoder(
                None, self.value_subject, self.value_schema, self.source, schema_id=self.value_id
            ),
        )


class EventBuilder:
    """Encodes the events of one connector; ``envelope`` holds its fixed ``source`` block."""

    def __init__(
        self,
        mapper: Mapper,
        key_field: str,
        encode_key: Encode,
        envelope: EnvelopeEncoder,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._mapper = mapper
        self._key_field = key_field
        self._encode_key = encode_key
        self._envelope = envelope
        self._clock = clock

    def event(self, row: SourceRow) -> Event:
        """The encoded event of ``row``; raises :class:`Rejected` if it cannot be one."""
        txn = row.transaction
        return self._event(
            self._mapper,
            row.values,
            row.key,
            row.op,
            row.position,
            row.source_ts_ms,
            row.before,
            row.error,
            None if txn is None else (txn.id, txn.order),
        )

    def event_of_values(
        self,
        values: Sequence[Any],
        key: Mapping[str, Any],
        op: str,
        position: Any,
        source_ts_ms: int | None,
        before: Sequence[Any] | None,
        error: str | None,
        transaction: tuple[str, int] | None,
    ) -> Event:
        """As :meth:`event`, for a row given field by field, ``values`` and ``before`` being the
        values of :attr:`columns` in that order: how an encode worker receives rows, so it
        need not rebuild each one."""
        return self._event(
            self._mapper.values, values, key, op, position, source_ts_ms, before, error, transaction
        )

    @property
    def columns(self) -> list[str]:
        """The source columns its mapping reads."""
        return self._mapper.columns

    def events(self, rows: Sequence[SourceRow]) -> list[Event | Rejected]:
        return each_event(self.event, rows)

    def submit(self, rows: Sequence[SourceRow]) -> Encoding:
        return Deferred(self.event, rows)

    def deletion(self, row: SourceRow, before: dict[str, Any]) -> Event:
        """The delete event of a row that is gone, ``before`` being its last delivered record."""
        txn = None if row.transaction is None else (row.transaction.id, row.transaction.order)
        return self._encode(row.op, row.key, row.position, row.source_ts_ms, txn, before, None, [], before)

    def close(self) -> None:
        """Nothing to release: an EventBuilder holds no process or connection."""

    def _event(
        self,
        mapping: Callable[[Any], tuple[dict[str, Any], list[str]]],
        values: Any,
        key: Mapping[str, Any],
        op: str,
        position: Any,
        source_ts_ms: int | None,
        before: Any,
        error: str | None,
        transaction: tuple[str, int] | None,
    ) -> Event:
        """The event of a row whose values (and ``before``) ``mapping`` maps."""
        if error is not None:
            raise Rejected("(source)", error)
        try:
            record, flags = mapping(values)
        except MappingError as exc:
            raise Rejected(exc.field, exc.reason) from exc
        if op == "d":
            return self._encode(op, key, position, source_ts_ms, transaction, record, None, flags, record)
        old = None
        if before is not None and op == "u":
            # an old value that no longer passes a rule does not stop the new one
            with contextlib.suppress(MappingError):
                old, _ = mapping(before)
        return self._encode(op, key, position, source_ts_ms, transaction, old, record, flags, record)

    def _encode(
        self,
        op: str,
        key: Mapping[str, Any],
        position: Any,
        source_ts_ms: int | None,
        transaction: tuple[str, int] | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        flags: list[str],
        record: dict[str, Any],
    ) -> Event:
        """The event of a mapped change; ``record`` (the state it leaves, or a delete's last one)
        gives the event's key."""
        try:
            value = self._envelope.event(
                op,
                before,
                after,
                key_json(key),
                orjson.dumps(position).decode(),
                int(self._clock() * 1000),
                source_ts_ms,
                flags,
                None if transaction is None else {"id": transaction[0], "order": transaction[1]},
            )
            return Event(self._encode_key(str(record[self._key_field])), value)
        except SerializationError as exc:
            raise Rejected("(record)", str(exc)) from exc
