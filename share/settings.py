"""Settings of the share service (environment prefix ``CIVICBUS_SHARE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import DirectoryPath, Field
from pydantic_settings import SettingsConfigDict

from civicbus.core.settings import BusSettings


class ShareSettings(BusSettings):
    """What ``civicbus share run`` serves: the grants in one folder, against the views in another."""

    model_config = SettingsConfigDict(env_prefix="CIVICBUS_SHARE_", extra="ignore")

    grants_dir: DirectoryPath = Field(Path("share/examples"), description="the reviewed grant files (*.yaml)")
    views_dir: Path | None = Field(None, description="the views grants may name; default: civicbus's")
    secrets_dir: Path = Field(
        Path(".civicbus/kafka/secrets"),
        description="apps' passwords (one file each, made on first grant) and the pseudonym master key",
    )
    authorizer_log: Path | None = Field(
        Path(".civicbus/kafka/logs/kafka-authorizer.log"),
        description="the broker's authorizer log, whose refusals become audit events; none: not read",
    )
    audit_topic: str = Field("civicbus.audit", pattern=r"^[A-Za-z0-9._-]+$")
    reload_s: float = Field(10.0, gt=0, le=3600, description="how often grant files are read again")
    partitions: int = Field(3, ge=1, description="partitions of an app's topics (the views' count)")
    batch_size: int = Field(500, ge=1, le=100_000, description="records projected per transaction at most")
    transaction_timeout_s: float = Field(10.0, ge=5, le=900)
    metrics_port: int = Field(9402, ge=0, le=65535, description="0 disables /metrics")
    metrics_addr: str = Field("127.0.0.1", description="0.0.0.0 in a container")
    manage_access: bool = Field(
        True,
        description="create and delete apps' SCRAM logins and ACLs from the grants; off for a broker "
        "without authorization (a developer laptop)",
    )
