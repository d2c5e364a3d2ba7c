"""A MySQL/MariaDB table captured from the row binlog, read as a replica reads it.

Every committed insert, update and delete of the table becomes a row with op ``c``/``u``/``d``,
the row before it (binlog_row_image=FULL), the commit's time and its transaction (the GTID where
the server has them); the snapshot runs between them (../capture.py, ../window.py). The resume
point is ``[binlog file, offset]`` just after the last transaction handed out. The server keeps
its binlog by age, not for this reader: a position whose file was purged is reported
(``source.log_lost``) and the table is snapshotted again rather than silently skipped.
"""

from __future__ import annotations

from typing import Any

import pymysql
import sqlalchemy as sa

from ...base import Position, SourceHealth
from ..capture import LogCapture
from .catalog import Catalog, Point, point
from .reader import BinlogReader
from .settings import BinlogSettings


class BinlogSource(LogCapture):
    settings_model = BinlogSettings
    driver_errors = (pymysql.Error, OSError)

    def __init__(self, cfg: BinlogSettings, columns: list[str]) -> None:
        url = sa.make_url(cfg.url.get_secret_value())
        database = url.render_as_string(hide_password=True)
        self._login = {
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "",
            "passwd": url.password or "",
        }
        connect = {
            "host": self._login["host"],
            "port": self._login["port"],
            "user": self._login["user"],
            "password": self._login["passwd"],
            "database": url.database,
            "charset": "utf8mb4",
        }
        self._catalog = Catalog(cfg, connect)
        self._chunks = Catalog(cfg, connect)  # selects the next snapshot chunk on a thread of its own
        super().__init__(cfg, columns, database, self._catalog)
        self._server_id = cfg.replica_id(database)
        self._reader: BinlogReader | None = None
        self._reached: Point = (0, 0)

    # --- the log -------------------------------------------------------------------------------
    def _log_start(self) -> Any:
        with self._available("find the binlog of"):
            file, offset = self._catalog.master()
        return [file, offset]

    def _log_kept(self, resume: Any) -> bool:
        return resume is None or resume[0] in {name for name, _ in self._catalog.binlogs()}

    def _open_log(self, resume: Any) -> None:
        file, offset = resume if resume is not None else self._log_start()
        self._reached = point(file, offset)
        self._reader = BinlogReader(
            self._login,
            self._server_id,
            self._catalog.schema,
            self._catalog.name,
            (file, int(offset)),
            self._cfg.wait_s,
        )

    def _close_log(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._catalog.close()

    def _poll(self, timeout_s: float) -> bool:
        assert self._reader is not None
        message = self._reader.next(timeout_s)
        if message is None:
            return False
        kind = message[0]
        if kind == "begin":
            self._begin(message[1], message[2], message[3])
        elif kind == "row":
            _, op, values, before, at = message
            self._change(op, values, before, at)
        elif kind == "commit":
            self._reached = message[2]
            self._commit(message[1], message[2])
        elif kind == "truncate":
            self._bad(
                f"{self._cfg.table} was truncated: the binlog does not say which rows went, so no delete "
                "events follow; ask for a re-snapshot (civicbus connectors snapshot) or reconcile"
            )
        elif kind == "reached":
            self._reached = max(self._reached, message[1])
        else:
            raise message[1]
        return True

    def _log_reached(self) -> Any:
        return self._reached

    # --- snapshot queries ----------------------------------------------------------------------
    def _selector(self) -> Catalog:
        return self._chunks

    def health(self, after: Position | None) -> SourceHealth | None:
        """Binlog bytes written after the saved position (the server does not keep them for us)."""
        with self._available("ask"):
            logs = self._catalog.binlogs()
        lag = None
        if isinstance(after, dict) and after.get("log"):
            file, offset = after["log"]
            names = [name for name, _ in logs]
            if file in names:
                at = names.index(file)
                lag = max(logs[at][1] - int(offset), 0) + sum(size for _, size in logs[at + 1 :])
        return SourceHealth(pending=self._pending(), log_lag_bytes=lag)
