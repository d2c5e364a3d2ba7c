"""The resident view's codec: Confluent-framed Avro through the schema registry."""

from __future__ import annotations

from typing import Any

from civicbus.schemas import model
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder, AvroEncoder

from . import profile
from .profile import Profile


class AvroCodec:
    """Decodes any registered record; encodes ResidentProfile under ``<view topic>-value``."""

    def __init__(self, registry: RegistryClient, view_topic: str) -> None:
        self._decode = AvroDecoder(registry)
        self._encode = AvroEncoder(registry, f"{view_topic}-value", model.schema("ResidentProfile"))
        self._encode_key = AvroEncoder(registry, f"{view_topic}-key", model.KEY_SCHEMA)

    def register(self) -> None:
        """Register the view's key and value schemas (before the first event is folded)."""
        self._encode_key("warm-up")
        self._encode(profile.empty("0"))

    def key(self, data: bytes) -> str:
        return str(self._decode(data))

    def event(self, data: bytes) -> dict[str, Any]:
        decoded = self._decode(data)
        if not isinstance(decoded, dict):
            raise ValueError(f"expected a change-event record, got {type(decoded).__name__}")
        return decoded

    def profile(self, data: bytes) -> Profile:
        return self.event(data)

    def encode(self, value: Profile) -> bytes:
        return self._encode(value)
