"""Settings of the local broker (environment prefix ``CIVICBUS_BROKER_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BrokerSettings(BaseSettings):
    """Where the local broker lives and which ports it takes.

    A deployment with its own cluster does not use this at all: it sets
    ``CIVICBUS_BOOTSTRAP_SERVERS`` and never starts a local broker.
    """

    model_config = SettingsConfigDict(env_prefix="CIVICBUS_BROKER_", extra="forbid")

    home: Path = Field(Path(".civicbus/kafka"), description="state: jars, data, logs, pid")
    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    heap: str = Field("512m", pattern=r"^\d+[mMgG]$")
    start_timeout_s: float = Field(120.0, gt=0)
    auth: Literal["none", "scram"] = Field(
        "none",
        description="scram: SASL/SCRAM on the client listener and ACLs enforced (StandardAuthorizer); "
        "none: anyone reaching the port reads everything (a developer laptop only)",
    )
    secrets_dir: Path | None = Field(
        None, description="where the broker's and civicbus's passwords are kept (default: home/secrets)"
    )

    @property
    def secrets(self) -> Path:
        return self.secrets_dir or self.home / "secrets"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"
