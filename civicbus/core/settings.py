"""The two settings every component reads, and how a bad setting is reported.

Each component has its own settings model (connectors, registry, streams, broker); the ones that
talk to Kafka or the registry inherit :class:`BusSettings`, so ``CIVICBUS_BOOTSTRAP_SERVERS`` and
``CIVICBUS_REGISTRY_URL`` mean the same everywhere (docker-compose.yml sets exactly these).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """A setting failed validation; the message names the environment variable and the rule."""


class BusSettings(BaseSettings):
    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("CIVICBUS_BOOTSTRAP_SERVERS", "bootstrap_servers"),
        pattern=r"^[^,\s]+:\d+(,[^,\s]+:\d+)*$",
        description="Kafka bootstrap servers, host:port[,host:port]",
    )
    registry_url: str = Field(
        "http://127.0.0.1:8081",
        validation_alias=AliasChoices("CIVICBUS_REGISTRY_URL", "registry_url"),
        pattern=r"^https?://",
        description="Confluent-API schema registry (civicbus's own, Confluent's or Karapace)",
    )


def load(model: type[S], **overrides: Any) -> S:
    """Build ``model`` from the environment; raise :class:`SettingsError` naming each bad field."""
    try:
        return model(**overrides)
    except ValidationError as exc:
        prefix = str(model.model_config.get("env_prefix", ""))
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            env = name if name.startswith("CIVICBUS_") else f"{prefix}{name}".upper()
            lines.append(f"{env}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings: " + "; ".join(lines)) from None
