"""Settings of the registry process (environment prefix ``CIVICBUS_REGISTRY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from civicbus.core.settings import BusSettings
from civicbus.schemas.compat import Mode


class RegistrySettings(BusSettings):
    model_config = SettingsConfigDict(env_prefix="CIVICBUS_REGISTRY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8081, ge=1, le=65535)
    topic: str = Field("_civicbus_schemas", min_length=1)
    compatibility: Mode = "BACKWARD"
