"""Settings of the streams worker (environment prefix ``CIVICBUS_STREAMS_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from civicbus.core.settings import BusSettings


def usable_cpus(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The CPUs this process may use: its affinity (which a container's cpuset narrows), at most
    its cgroup's CPU quota rounded up (``docker run --cpus``, a Kubernetes CPU limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, -(-int(quota) // int(period))))


class StreamsSettings(BusSettings):
    model_config = SettingsConfigDict(env_prefix="CIVICBUS_STREAMS_", extra="ignore")

    app_id: str = Field(
        "civicbus-streams",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="the worker group: workers with the same app_id share the views' partitions",
    )
    partitions: int = Field(3, ge=1, description="must equal the source topics' partition count")
    processes: int = Field(
        default_factory=usable_cpus,
        ge=1,
        le=64,
        description="engine processes in this worker, each a group member folding its own partitions "
        "(a Python process folds on one core); default: the CPUs this worker may use",
    )
    views_dir: Path | None = Field(
        None, description="folder of view files (*.yaml) the worker runs; default: the views civicbus ships"
    )
    data_dir: Path = Field(Path(".civicbus/streams"), description="the local stores; one per worker")
    store: Literal["rocksdb", "memory"] = Field(
        "rocksdb",
        description="rocksdb: states on disk under data_dir, so a restarted worker reads only the "
        "changelog's tail; memory: rebuilt from the whole changelog at every start",
    )
    batch_size: int = Field(2000, ge=1, le=100_000, description="messages folded per transaction at most")
    session_timeout_s: float = Field(
        10.0,
        ge=6,
        le=300,
        description="how long the group waits for a silent worker before handing its partitions on",
    )
    transaction_timeout_s: float = Field(
        10.0,
        ge=5,
        le=900,
        description="a killed worker's open transaction holds back read_committed readers this long at most "
        "(Kafka Streams' default under exactly-once, and the session timeout's)",
    )
    max_poll_interval_s: float = Field(
        600.0,
        ge=30,
        description="longest a worker may spend between batches (restoring a store) in the group",
    )
    metrics_port: int = Field(9401, ge=0, le=65535, description="0 disables /metrics")
    metrics_addr: str = Field("127.0.0.1", description="0.0.0.0 in a container")

    @model_validator(mode="after")
    def _timeouts(self) -> StreamsSettings:
        if self.max_poll_interval_s < self.session_timeout_s:
            raise ValueError("max_poll_interval_s must be at least session_timeout_s")
        return self
