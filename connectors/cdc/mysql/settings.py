"""Settings of a MySQL/MariaDB binlog source: ``source:`` of a connector with ``type: binlog``."""

from __future__ import annotations

import zlib
from typing import Literal

from pydantic import Field

from ..settings import LogSettings


class BinlogSettings(LogSettings):
    """``source:`` of a connector following a MySQL/MariaDB server's row binlog as a replica.

    The server needs ``log_bin`` on, ``binlog_format=ROW`` and ``binlog_row_image=FULL``; the
    user needs SELECT on the table, REPLICATION SLAVE and REPLICATION CLIENT (MariaDB: BINLOG
    MONITOR). ``table`` is ``database.table`` or a table of the URL's database.
    """

    type: Literal["binlog"] = "binlog"
    server_id: int | None = Field(
        None,
        ge=1,
        le=2**32 - 1,
        description="the replica id this connector uses, unique among the server's replicas "
        "(default: derived from the URL and table)",
    )

    def replica_id(self, database: str) -> int:
        """The configured server id, or a stable one from the database and table."""
        if self.server_id is not None:
            return self.server_id
        return 100_000 + zlib.crc32(f"{database}/{self.table}".encode()) % 1_000_000_000
