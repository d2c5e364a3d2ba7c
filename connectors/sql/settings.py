"""Settings of a SQL source: the ``source:`` section of a connector file with ``type: sql``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ..base import SourceSettings


class SoftDelete(BaseModel):
    """A row whose ``column`` holds one of ``values`` is deleted in the source system's eyes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    values: list[str] = Field(min_length=1, description="compared as text: ['1', 'Y', '已删除']")


class SqlSettings(SourceSettings):
    """``source:`` of a SQL connector (``type: sql``, the default)."""

    @property
    def relation(self) -> str:
        """What events and messages call the source: the table, or ``query``."""
        return self.table or "query"

    type: Literal["sql"] = "sql"
    url: SecretStr = Field(description="SQLAlchemy URL, e.g. sqlite:///x.db or postgresql+psycopg://…")
    table: str | None = Field(None, description="the table to read; or give a query")
    query: str | None = Field(
        None, description="a read-only SELECT whose result is read like a table (joins, filters)"
    )
    mode: Literal["snapshot", "incrementing", "timestamp", "timestamp+incrementing"] = "incrementing"
    initial_snapshot: bool = Field(
        False, description="streaming modes: first read the whole table in key order, then stream"
    )
    incrementing_column: str | None = None
    timestamp_column: str | None = None
    key_columns: list[str] = Field(min_length=1)
    settle_s: float = Field(0.0, ge=0, description="timestamp modes: rows newer than now minus this wait")
    rescan_window: float = Field(
        0.0,
        ge=0,
        description="re-read this far behind the mark for rows committed late: seconds in timestamp "
        "modes, ids in incrementing mode (0: off)",
    )
    rescan_every_s: float = Field(
        5.0,
        ge=0,
        description="how often the window behind the mark is re-read (0: every poll); a late row waits "
        "at most this long, and an idle connector does not re-read its window twice a second",
    )
    soft_delete: SoftDelete | None = None
    max_concurrent_queries: int = Field(
        1, ge=1, description="queries at once against this database from one process"
    )

    @model_validator(mode="after")
    def _mode_columns(self) -> SqlSettings:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.mode == "snapshot" and self.initial_snapshot:
            raise ValueError("initial_snapshot applies to the streaming modes; mode snapshot is one")
        if "incrementing" in self.mode and not self.incrementing_column:
            raise ValueError(f"mode {self.mode} needs incrementing_column")
        if "timestamp" in self.mode and not self.timestamp_column:
            raise ValueError(f"mode {self.mode} needs timestamp_column")
        if self.settle_s and "timestamp" not in self.mode:
            raise ValueError("settle_s applies to timestamp modes only; use rescan_window")
        return self
