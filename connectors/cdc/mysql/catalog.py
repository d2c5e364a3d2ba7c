"""What the binlog source asks the server outside the binlog: checks, binlog positions, snapshot
chunks between watermarks, the table's bounds, how much binlog lies ahead. One read-only pymysql
session."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pymysql
import pymysql.cursors

from ..window import Selected
from .settings import BinlogSettings

Point = tuple[int, int]
"""A binlog position in log order: (file sequence number, offset)."""


def point(file: str, offset: int) -> Point:
    return int(file.rsplit(".", 1)[-1]), int(offset)


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class Catalog:
    def __init__(self, cfg: BinlogSettings, connect: dict[str, Any]) -> None:
        self._cfg = cfg
        self._connect = connect
        schema, _, name = cfg.table.rpartition(".")
        self.schema = schema or str(connect["database"])
        self.name = name
        self._table = f"{quoted(self.schema)}.{quoted(self.name)}"
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._names_snapshot = False
        """The server said where in the binlog a consistent snapshot stands (MariaDB)."""

    def _session(self) -> pymysql.cursors.DictCursor:
        if self._conn is None or not self._conn.open:
            self._conn = pymysql.connect(
                **self._connect, autocommit=True, cursorclass=pymysql.cursors.DictCursor
            )
            with self._conn.cursor() as cur:
                # a chunk's SELECT must read the consistent snapshot its transaction started with
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor: pymysql.cursors.DictCursor = self._conn.cursor()
        return cursor

    def _all(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._session() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())

    def problems(self) -> list[str]:
        """Everything that keeps this table from being captured from the binlog, at once."""
        found = []
        server = self._all(
            "SELECT @@log_bin AS log_bin, @@binlog_format AS format, @@binlog_row_image AS image"
        )[0]
        if not server["log_bin"]:
            found.append("source: the server keeps no binlog: start it with log_bin (and binlog_format=ROW)")
        elif server["format"] != "ROW":
            found.append(f"source: binlog_format is {server['format']}; log-based capture needs ROW")
        if server["image"] != "FULL":
            found.append(f"source: binlog_row_image is {server['image']}; before images need FULL")
        columns = self.columns()
        if not columns:
            return [*found, f"source.table: {self._cfg.table!r} not found in {self.schema}"]
        missing = sorted(set(self._cfg.key_columns) - columns)
        if missing:
            found.append(f"source.key_columns: {self._cfg.table!r} has no column(s) {missing}")
        return found

    def columns(self) -> set[str]:
        rows = self._all(
            "SELECT column_name AS c FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (self.schema, self.name),
        )
        return {r["c"] for r in rows}

    def master(self) -> tuple[str, int]:
        """The binlog file and offset the server writes next."""
        rows = self._all("SHOW MASTER STATUS")
        if not rows:
            raise ValueError("source: the server keeps no binlog (SHOW MASTER STATUS is empty)")
        return str(rows[0]["File"]), int(rows[0]["Position"])

    def binlogs(self) -> list[tuple[str, int]]:
        """The binlog files the server still has, oldest first, with their sizes."""
        return [(str(r["Log_name"]), int(r["File_size"])) for r in self._all("SHOW BINARY LOGS")]

    def window(self, after: Sequence[Any] | None, upto: Sequence[Any], limit: int) -> Selected:
        """:meth:`chunk` in a consistent-snapshot transaction of its own. MariaDB names the binlog
        position of that snapshot (``Binlog_snapshot_position``): every transaction before it
        was seen, none after, so it is both watermarks. A server that does not (MySQL) gives the
        binlog positions before and after the SELECT; a transaction already in the binlog but not
        yet committed in InnoDB when the SELECT runs can then be missed before the low one."""
        before = None if self._names_snapshot else point(*self.master())
        try:
            with self._session() as cur:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
                status = {r["Variable_name"].lower(): r["Value"] for r in cur.fetchall()}
            rows = self.chunk(after, upto, limit)
            with self._session() as cur:
                cur.execute("COMMIT")
        except BaseException:
            self.close()  # a session left inside a transaction is not used again
            raise
        if "binlog_snapshot_file" in status:
            self._names_snapshot = True
            at = point(status["binlog_snapshot_file"], int(status["binlog_snapshot_position"]))
            return Selected(at, rows, at)
        if before is None:  # not the server it was: ask again, reading the low watermark first
            self._names_snapshot = False
            return self.window(after, upto, limit)
        return Selected(before, rows, point(*self.master()))

    def chunk(self, after: Sequence[Any] | None, upto: Sequence[Any], limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rows with keys in (after, upto], in key order, every column."""
        keys = ", ".join(quoted(c) for c in self._cfg.key_columns)
        marks = ", ".join(["%s"] * len(self._cfg.key_columns))
        where = f"({keys}) <= ({marks})"
        params = list(upto)
        if after is not None:
            where += f" AND ({keys}) > ({marks})"
            params += list(after)
        return self._all(
            f"SELECT * FROM {self._table} WHERE {where} ORDER BY {keys} LIMIT {int(limit)}", params
        )

    def bounds(self) -> tuple[list[Any] | None, int]:
        keys = ", ".join(quoted(c) for c in self._cfg.key_columns)
        desc = ", ".join(f"{quoted(c)} DESC" for c in self._cfg.key_columns)
        top = self._all(f"SELECT {keys} FROM {self._table} ORDER BY {desc} LIMIT 1")
        count = self._all(f"SELECT count(*) AS n FROM {self._table}")[0]["n"]
        return ([top[0][c] for c in self._cfg.key_columns] if top else None), int(count)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.Error):
                self._conn.close()
            self._conn = None
