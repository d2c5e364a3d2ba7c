"""Settings of the streams worker (environment prefix ``CIVICBUS_STREAMS_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from civicbus.core.settings import BusSettings


class StreamsSettings(BusSettings):
    model_config = SettingsConfigDict(env_prefix="CIVICBUS_STREAMS_", extra="ignore")

    app_id: str = Field("civicbus-streams", pattern=r"^[A-Za-z0-9._-]+$")
    partitions: int = Field(3, ge=1, description="must equal the source topics' partition count")
    views_dir: Path | None = Field(
        None, description="folder of view files (*.yaml) the worker runs; default: the views civicbus ships"
    )
    data_dir: Path = Path(".civicbus/streams")
    store: str = Field(
        "rocksdb://",
        pattern=r"^(memory|rocksdb|aerospike)://",
        description="faust table store: RocksDB (rocksdict) under data_dir, so a restarted worker reads its "
        "local state and only the changelog's tail; memory:// replays the whole changelog",
    )
    session_timeout_s: float = Field(
        10.0,
        ge=6,
        le=300,
        description="how long the group waits for a silent worker before handing its partitions on",
    )
    metrics_port: int = Field(9401, ge=0, le=65535, description="0 disables /metrics")
    metrics_addr: str = Field("127.0.0.1", description="0.0.0.0 in a container")
