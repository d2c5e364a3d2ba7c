"""What every log-based source's ``source:`` section shares: the table, its key, the snapshot."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr

from ..base import SourceSettings

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LogSettings(SourceSettings):
    """Settings of a source that follows a database's change log."""

    url: SecretStr = Field(description="SQLAlchemy URL of the database (its user needs replication rights)")
    table: str = Field(description="the table to capture, optionally schema-qualified: public.t_hj_rkxx")
    key_columns: list[str] = Field(
        min_length=1, description="the table's key: snapshot chunks are cut along it, events name it"
    )
    snapshot: Literal["initial", "never"] = Field(
        "initial",
        description="initial: read the table in key chunks between the log's changes, while following it",
    )
    chunk_size: int = Field(
        2048,
        ge=1,
        le=100_000,
        description="rows per snapshot chunk (held in memory while its window is open)",
    )
    heartbeat_interval_s: float = Field(
        10.0,
        gt=0,
        description="on a quiet table, tell the database this often where the log stands, so log kept "
        "for changes that were not the table's is released",
    )
    wait_s: float = Field(
        0.1, gt=0, le=5, description="how long one read waits for the log when nothing is new"
    )


def identifier(value: str, what: str) -> str:
    """``value`` if it is a plain lower-case SQL identifier, else ValueError naming ``what``."""
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{what} {value!r} must be a lower-case identifier (a-z, 0-9, _), at most 63 characters"
        )
    return value
