"""Change events encoded in parts: the bytes :class:`~.wire.AvroEncoder` writes for a whole
envelope, in about three quarters of its time (bench/envelope_encoding.py).

An Avro record is its fields' encodings one after another, and a union is its branch's index (a
zigzag varint: 0 is ``00``, 1 is ``02``) followed by that branch's value (Avro specification,
"Binary Encoding"). So an envelope of :func:`.model.envelope` is written as

- ``op``: its enum symbol's bytes, encoded once per symbol;
- ``before`` and ``after``: ``00`` for null, else ``02`` and the entity record's bytes;
- ``source`` up to ``table``: the same for every event of one connector, encoded once;
- the rest (``source.key``, ``source.position``, ``ts_ms``, ``source_ts_ms``, ``quality``,
  ``transaction``): one record of those fields.

Each part is encoded by cavro. The whole envelope costs more because cavro checks a dict
against a union's record branch before it encodes it (a record visited twice), and because
the caller need not build the envelope's dicts. Where cavro is not installed the envelope is
built and encoded whole (fastavro), with the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .wire import AvroEncoder, SerializationError, SubjectEncoder, cavro_schema

if TYPE_CHECKING:
    from .registry_client import RegistryClient

FIELDS = ("op", "before", "after", "source", "ts_ms", "source_ts_ms", "quality", "transaction")
"""The envelope's fields in order, as model.envelope writes them."""
PER_EVENT_SOURCE = ("key", "position")
"""The ``source`` fields that change from event to event; they come last in the block."""
_NULL, _SECOND = b"\x00", b"\x02"


class EnvelopeEncoder(SubjectEncoder):
    """Encodes the change events of one connector; ``source`` holds the ``source`` block's fields
    other than key and position (department, system, connector, database, table).

    Construction raises ValueError naming what does not match if ``schema`` is not an envelope
    of model.envelope's layout, or ``source`` lacks a field of its ``source`` block."""

    def __init__(
        self,
        registry: RegistryClient | None,
        subject: str,
        schema: dict[str, Any],
        source: Mapping[str, str],
        schema_id: int | None = None,
    ) -> None:
        super().__init__(registry, subject, schema, schema_id)
        fields = {f["name"]: f for f in schema["fields"]}
        if tuple(fields) != FIELDS:
            raise ValueError(
                f"{subject}: not a change envelope: fields {list(fields)}, expected {list(FIELDS)}"
            )
        block = [f["name"] for f in fields["source"]["type"]["fields"]]
        fixed = block[: -len(PER_EVENT_SOURCE)]
        if tuple(block[len(fixed) :]) != PER_EVENT_SOURCE:
            raise ValueError(f"{subject}: the source block must end with {list(PER_EVENT_SOURCE)}: {block}")
        missing = [name for name in fixed if name not in source]
        if missing:
            raise ValueError(f"{subject}: the source block's {missing} not given")
        self._source = {name: source[name] for name in fixed}
        self._whole: AvroEncoder | None = None
        self._entity = cavro_schema(fields["before"]["type"][1])
        if self._entity is None:
            self._whole = AvroEncoder(registry, subject, schema, schema_id=schema_id)
            return
        op_type = fields["op"]["type"]
        op_part = cavro_schema(op_type)
        self._ops = {symbol: op_part.binary_encode(symbol) for symbol in op_type["symbols"]}
        source_type = fields["source"]["type"]
        fixed_part = cavro_schema({**source_type, "fields": source_type["fields"][: len(fixed)]})
        self._fixed = fixed_part.binary_encode(self._source)
        rest = source_type["fields"][len(fixed) :] + [fields[n] for n in FIELDS[4:]]
        self._rest = cavro_schema(
            {"type": "record", "name": "EventRest", "namespace": "civicbus.envelope", "fields": rest}
        )

    def event(
        self,
        op: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        key: str,
        position: str,
        ts_ms: int,
        source_ts_ms: int | None,
        quality: Sequence[str],
        transaction: Mapping[str, Any] | None,
    ) -> bytes:
        """The framed event, as AvroEncoder writes ``{"op": op, "before": before, …}``;
        SerializationError naming the subject if a value does not fit."""
        if self._whole is not None:
            return self._whole(
                {
                    "op": op,
                    "before": before,
                    "after": after,
                    "source": {**self._source, "key": key, "position": position},
                    "ts_ms": ts_ms,
                    "source_ts_ms": source_ts_ms,
                    "quality": quality,
                    "transaction": transaction,
                }
            )
        entity = self._entity.binary_encode
        try:
            return b"".join(
                (
                    self.header(),
                    self._ops[op],
                    _NULL if before is None else _SECOND + entity(before),
                    _NULL if after is None else _SECOND + entity(after),
                    self._fixed,
                    self._rest.binary_encode(
                        {
                            "key": key,
                            "position": position,
                            "ts_ms": ts_ms,
                            "source_ts_ms": source_ts_ms,
                            "quality": quality,
                            "transaction": transaction,
                        }
                    ),
                )
            )
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            raise SerializationError(f"record does not fit {self.subject}: {exc}") from exc
