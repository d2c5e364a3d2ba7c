"""A view's codec: Confluent-framed Avro through the schema registry, values as Avro stores them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from civicbus.core.backoff import retry
from civicbus.schemas import model
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.registry_errors import RegistryError
from civicbus.schemas.wire_raw import DEFAULT, Backend, RawDecoder, RawEncoder

from .engine.batch import Codec
from .settings import StreamsSettings
from .views.spec import ViewSpec


class AvroCodec:
    """Decodes any registered record; encodes the view's key and record under its topic's subjects.

    The key is the canonical key schema (an Avro string), the same bytes every connector writes
    for the same value, so a view's store and topic are co-partitioned with its sources.
    """

    def __init__(self, registry: RegistryClient, spec: ViewSpec, backend: Backend = DEFAULT) -> None:
        # the fold keeps values as Avro stores them; the record encodes them back unchanged
        self._decode = RawDecoder(registry, backend)
        self._record = RawEncoder(registry, f"{spec.topic}-value", model.schema(spec.record), backend)
        self._key = RawEncoder(registry, f"{spec.topic}-key", model.KEY_SCHEMA, backend)

    def register(self) -> None:
        """Register the view's key and value schemas (before the first event is folded)."""
        self._key.register()
        self._record.register()

    def event(self, data: bytes) -> dict[str, Any]:
        decoded = self._decode(data)
        if not isinstance(decoded, dict):
            raise ValueError(f"expected a change-event record, got {type(decoded).__name__}")
        return decoded

    def key(self, value: str) -> bytes:
        """The key's Avro string, framed; written by hand: it is per event, and fastavro's writer
        costs several times more for a lone string."""
        data = value.encode()
        n = len(data) << 1  # zigzag of a non-negative length
        prefix = bytearray()
        while n > 0x7F:
            prefix.append((n & 0x7F) | 0x80)
            n >>= 7
        prefix.append(n)
        return self._key.header() + bytes(prefix) + data

    def unkey(self, data: bytes) -> str:
        text = self._decode(data)
        if not isinstance(text, str):
            raise ValueError(f"expected a string key, got {type(text).__name__}")
        return text

    def record(self, value: dict[str, Any]) -> bytes:
        return self._record(value)


class _Away(Exception):
    """The registry did not answer (5xxxx); a refusal (4xxxx) ends the worker with its reason."""


def _registering(codec: AvroCodec) -> Callable[[], None]:
    def register() -> None:
        try:
            codec.register()
        except RegistryError as exc:
            if exc.code >= 50000:
                raise _Away(exc.message) from exc
            raise

    return register


def registered(settings: StreamsSettings, specs: list[ViewSpec], stop: threading.Event) -> dict[str, Codec]:
    """Every view's codec, its schemas registered; waits while the registry is away. Raises
    :class:`~civicbus.core.backoff.Stopped` if ``stop`` is set meanwhile, RegistryError if the
    registry refuses a schema."""
    registry = RegistryClient(settings.registry_url, timeout_s=5.0)
    codecs: dict[str, Codec] = {}
    for spec in specs:
        codec = AvroCodec(registry, spec)
        retry(_registering(codec), f"registering the {spec.name} view's schemas", (_Away,), stop)
        codecs[spec.name] = codec
    return codecs
