"""A connector's YAML file, validated; and the settings of the connector process.

A SQL connector is one YAML file and no code (connectors/examples/ has two). ``${NAME}`` in any
string is replaced by the environment variable NAME at load, so credentials stay out of files;
the URL is a secret and never logged (``database`` in events and logs has no password).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from civicbus.core.files import FileProblems, Strict, described
from civicbus.core.settings import BusSettings

from .base import SourceSettings

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(FileProblems, ValueError):
    """A connector file is invalid; ``problems`` names every bad field, the message the file too."""


class FieldRule(Strict):
    """How one canonical field is filled: from a column (optionally transformed) or a constant."""

    column: str | None = None
    const: Any = None
    transform: str | None = Field(None, description="a name from connectors/transforms.py")
    codes: dict[str, str] | None = Field(None, description="legacy code → canonical code")
    on_invalid: Literal["dead_letter", "flag"] = Field(
        "dead_letter",
        description="dead_letter: the whole row goes to the dead-letter topic; "
        "flag: the field becomes null and the event carries 'field: reason' in its quality list",
    )

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        if (self.column is None) == (self.const is None):
            raise ValueError("give exactly one of 'column' or 'const'")
        return self


class TargetConfig(Strict):
    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    schema_name: str = Field(alias="schema", description="canonical record name in schemas/avro")
    key: str = Field(description="canonical field whose value is the Kafka key")
    partitions: int = Field(3, ge=1)
    tombstones: bool = Field(
        False, description="after a delete event, a null-valued record for the key (compaction)"
    )
    dead_letter_topic: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,249}$")


class ConnectorConfig(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    department: str
    system: str
    source: SourceSettings = Field(description="its ``type`` (default sql) chooses the source class")
    target: TargetConfig
    mapping: dict[str, FieldRule]
    poll_interval_s: float = Field(0.5, gt=0)
    batch_size: int = Field(500, ge=1, le=100_000)

    @field_validator("source", mode="before")
    @classmethod
    def _typed_source(cls, value: Any) -> Any:
        """Validate ``source`` with the settings model of its type (an entry point)."""
        if not isinstance(value, dict):
            return value
        from .kinds import source_type

        return source_type(str(value.get("type", "sql"))).settings_model.model_validate(value)

    @property
    def dead_letter_topic(self) -> str:
        return self.target.dead_letter_topic or f"civicbus.deadletter.{self.name}"

    def positions_topic(self, prefix: str) -> str:
        """The compacted topic holding this connector's position, written only by it."""
        return f"{prefix}.{self.name}"

    @property
    def transactional_id(self) -> str:
        """Fences an earlier instance of this connector (exactly-once delivery)."""
        return f"civicbus-connector-{self.name}"

    @property
    def index_topic(self) -> str:
        """The compacted index of delivered rows that reconciliation compares with the source."""
        return f"civicbus.connector-keys.{self.name}"


class ConnectorSettings(BusSettings):
    """The connector process's settings (environment prefix ``CIVICBUS_CONNECTOR_``)."""

    model_config = SettingsConfigDict(env_prefix="CIVICBUS_CONNECTOR_", extra="ignore")

    positions_topic: str = Field(
        "civicbus.connector-positions",
        description="prefix: each connector keeps its position in <prefix>.<name>, written only by it",
    )
    delivery: Literal["exactly_once", "at_least_once"] = Field(
        "exactly_once",
        description="exactly_once: each batch and its position in one Kafka transaction (consumers read "
        "read_committed); at_least_once: for brokers without transactions, may repeat in-flight batches",
    )
    producer: Literal["confluent-kafka", "kafka-python"] = Field(
        "confluent-kafka",
        description="the client producing events: confluent-kafka (librdkafka) delivers several times "
        "kafka-python's rows/s as the connector's producer (bench/connector.py); kafka-python stays "
        "selectable",
    )
    encode_workers: int = Field(
        1,
        ge=0,
        le=16,
        description="processes that map and encode part of each batch of encode_split_rows or more "
        "beside the connector's own (a snapshot or a bulk change uses another core); 0: the connector "
        "alone (less memory: each worker holds about 60-75 MB)",
    )
    encode_split_rows: int = Field(
        256,
        ge=1,
        description="the smallest batch shared with encode workers; smaller ones (live changes) are "
        "encoded by the connector alone, without a round trip",
    )
    status_topic: str = "civicbus.connector-status"
    signals_topic: str = Field(
        "civicbus.connector-signals",
        description="commands to running connectors (civicbus connectors snapshot)",
    )
    metrics_port: int = Field(9400, ge=0, le=65535, description="0 disables /metrics")
    metrics_addr: str = Field("127.0.0.1", description="0.0.0.0 in a container")
    max_backoff_s: float = Field(10.0, gt=0)


def _substitute(node: Any, where: str) -> Any:
    if isinstance(node, str):

        def env(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                raise ConfigError(where, [f"environment variable {m.group(1)} is not set"])
            return os.environ[m.group(1)]

        return _ENV.sub(env, node)
    if isinstance(node, list):
        return [_substitute(n, where) for n in node]
    if isinstance(node, dict):
        return {k: _substitute(v, where) for k, v in node.items()}
    return node


def load(path: str | Path) -> ConnectorConfig:
    """Read and validate one connector file; :class:`ConfigError` lists every problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [str(exc)]) from exc
    if not isinstance(raw, dict):
        raise ConfigError(str(path), ["expected a mapping at the top level"])
    try:
        return ConnectorConfig.model_validate(_substitute(raw, str(path)))
    except ValidationError as exc:
        raise ConfigError(str(path), described(exc)) from None
