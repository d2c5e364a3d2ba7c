"""What the source asks PostgreSQL outside the replication stream: checks, the publication and
slot, snapshot chunks between WAL positions, the slot's lag. A normal (psycopg 3) session, read-only
except for the statements that create the publication and the slot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import takewhile
from typing import Any

import psycopg
import psycopg2
import psycopg2.extras
from psycopg import sql
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus, Format
from psycopg.rows import dict_row

from ..window import Selected
from .settings import PgLogSettings
from .visibility import Snapshot

MIN_SERVER = 130000
"""PostgreSQL 13: ``pg_current_snapshot()``, which tells a chunk which changes it saw."""


def split_table(table: str) -> tuple[str, str]:
    """(schema, name) of ``public.t`` or ``t``; names are taken exactly as written."""
    schema, _, name = table.rpartition(".")
    return schema or "public", name


def fetch(
    conn: psycopg.Connection[Any], query: sql.Composable, params: Sequence[Any] = ()
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and rows of ``query`` (``$1``-style placeholders), values loaded as
    ``conn.execute`` loads them, from one blocking libpq call that releases the GIL for the whole
    round trip.

    ``conn.execute`` waits for a result in many small steps, taking the GIL back at each: while
    another thread of the process runs Python (the connector's engine does, all the time), each
    step waits for the GIL, and a 5,000-row chunk that takes 30 ms alone took 0.2-0.8 s
    (psycopg/psycopg#448). Only for an autocommit session: psycopg's transaction state is not
    updated. Raises the psycopg error of the server's answer."""
    tx = Transformer(conn)
    values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
    result = conn.pgconn.exec_params(query.as_bytes(conn), values, tx.types, tx.formats, Format.TEXT)
    if result.status != ExecStatus.TUPLES_OK:
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    tx.set_pgresult(result)
    names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
    return names, tx.load_rows(0, result.ntuples, tuple)


def _command(conn: psycopg.Connection[Any], statement: bytes) -> None:
    """Run a statement without parameters or rows on an autocommit session, as :func:`fetch`
    does (psycopg's own transaction state is not updated)."""
    result = conn.pgconn.exec_(statement)
    if result.status != ExecStatus.COMMAND_OK:
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)


class Catalog:
    """A session on the source database for everything but the change stream."""

    def __init__(self, cfg: PgLogSettings, conninfo: str) -> None:
        self._cfg = cfg
        self._conninfo = conninfo
        self.schema, self.name = split_table(cfg.table)
        self._table = sql.Identifier(self.schema, self.name)
        self._conn: psycopg.Connection[Any] | None = None

    def _session(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True, row_factory=dict_row)
            self._conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return self._conn

    def load(self, type_oid: int) -> Callable[[bytes], Any]:
        """The server's own text loader of a type: a log value becomes what a SELECT returns."""
        loader: Callable[[bytes], Any] = Transformer(self._session()).get_loader(type_oid, Format.TEXT).load
        return loader

    def problems(self) -> list[str]:
        """Everything that keeps this table from being captured from the log, at once."""
        conn = self._session()
        found = []
        if conn.info.server_version < MIN_SERVER:
            found.append(
                f"source: the server is PostgreSQL {conn.info.server_version // 10000}; log-based capture "
                f"needs {MIN_SERVER // 10000} or later"
            )
        wal = conn.execute("SHOW wal_level").fetchone()
        if wal and wal["wal_level"] != "logical":
            found.append(
                f"source: the server runs wal_level={wal['wal_level']}; log-based capture needs logical"
            )
        role = conn.execute(
            "SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if role and not (role["rolreplication"] or role["rolsuper"]):
            found.append("source.url: the user lacks the REPLICATION attribute (ALTER ROLE … REPLICATION)")
        rel = conn.execute(
            "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s",
            (self.schema, self.name),
        ).fetchone()
        if rel is None:
            return [*found, f"source.table: {self._cfg.table!r} not found"]
        columns = {
            r["attname"]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
                (rel["oid"],),
            )
        }
        missing = sorted(set(self._cfg.key_columns) - columns)
        if missing:
            found.append(f"source.key_columns: {self._cfg.table!r} has no column(s) {missing}")
        if rel["relreplident"] != "f":
            found.append(
                f"source.table: {self._cfg.table!r} logs only the key of a changed row; an update's "
                "before image and a delete's canonical key need the whole row: "
                f"ALTER TABLE {self._table.as_string(conn)} REPLICA IDENTITY FULL"
            )
        return found

    def columns(self) -> set[str]:
        rows = self._session().execute(
            "SELECT attname FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (self._table.as_string(self._session()),),
        )
        return {r["attname"] for r in rows}

    def ensure_publication(self) -> None:
        """Create the publication for the table when it is missing (needs the table's owner)."""
        name = self._cfg.publication_name
        if self._session().execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone():
            return
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), self._table)
            )

    def ensure_slot(self, dsn: str) -> bool:
        """Create the slot when it is missing; True if it was created just now."""
        name = self._cfg.slot_name
        found = (
            self._session()
            .execute("SELECT plugin, database FROM pg_replication_slots WHERE slot_name = %s", (name,))
            .fetchone()
        )
        if found is not None:
            if found["plugin"] != "pgoutput":
                raise ValueError(f"source.slot: slot {name!r} decodes with {found['plugin']}, not pgoutput")
            return False
        conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        try:
            conn.cursor().create_replication_slot(name, output_plugin="pgoutput")
        finally:
            conn.close()
        return True

    def window(self, after: Sequence[Any] | None, upto: Sequence[Any], limit: int) -> Selected:
        """:meth:`chunk` in a REPEATABLE READ transaction of its own, with the WAL positions
        around it and the transactions its snapshot saw: the low watermark is read once the
        snapshot is taken, the high one after the rows. Both are the WAL write position, which
        the replication stream's own position reaches once what was written is decoded (the
        insert position can stand just past a page header no record ends at, and a quiet
        server would never reach it). A commit the snapshot saw is flushed, so before the
        high watermark; with ``synchronous_commit = off`` one can be visible before it is
        written: its change (and a later one of the same row) then follows the chunk, so the
        row ends right but can pass through an older state after the chunk's."""
        conn = self._session()
        try:
            _command(conn, b"BEGIN ISOLATION LEVEL REPEATABLE READ")
            _, [(low, seen)] = fetch(
                conn, sql.SQL("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, pg_current_snapshot()::text")
            )
            rows = self.chunk(after, upto, limit)
            _, [(high,)] = fetch(conn, sql.SQL("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
            _command(conn, b"COMMIT")
        except BaseException:
            self.close()  # a session left inside a transaction is not used again
            raise
        return Selected(int(low), rows, int(high), Snapshot.parse(seen).unseen)

    def chunk(self, after: Sequence[Any] | None, upto: Sequence[Any], limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rows with keys in (after, upto], in key order, every column.

        The query bounds the key from below only, and the server marks each row past ``upto`` (in
        its own ordering, collations included), which is dropped here: ``key > after ORDER BY key
        LIMIT n`` is an index scan whatever the table's statistics, while a two-sided range on a
        table not analyzed yet is planned as a bitmap scan of the whole range and a sort (230 ms
        for a 5,000-row chunk of a fresh 1M-row table, 7 ms by the index)."""
        width = len(self._cfg.key_columns)
        keys = sql.SQL(", ").join(sql.Identifier(c) for c in self._cfg.key_columns)

        def marks(first: int) -> sql.Composable:
            return sql.SQL(", ").join(sql.SQL(f"${n}") for n in range(first, first + width))

        where: sql.Composable = sql.SQL("")
        params = list(upto)
        if after is not None:
            where = sql.SQL("WHERE ({}) > ({})").format(keys, marks(width + 1))
            params += list(after)
        stmt = sql.SQL("SELECT ({}) > ({}), * FROM {} {} ORDER BY {} LIMIT {}").format(
            keys, marks(1), self._table, where, keys, sql.Literal(limit)
        )
        names, rows = fetch(self._session(), stmt, params)
        columns = names[1:]
        return [dict(zip(columns, row[1:], strict=True)) for row in takewhile(lambda r: not r[0], rows)]

    def bounds(self) -> tuple[list[Any] | None, int]:
        """The greatest key now (None: the table is empty) and the row count."""
        keys = sql.SQL(", ").join(sql.Identifier(c) for c in self._cfg.key_columns)
        desc = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(c)) for c in self._cfg.key_columns)
        conn = self._session()
        top = conn.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY {} LIMIT 1").format(keys, self._table, desc)
        ).fetchone()
        count = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(self._table)).fetchone()
        assert count is not None
        return (list(top.values()) if top else None), int(count["n"])

    def slot_lag_bytes(self) -> int | None:
        """WAL the slot holds back: the server's position minus what the slot confirmed."""
        row = (
            self._session()
            .execute(
                "SELECT pg_current_wal_lsn() - confirmed_flush_lsn AS lag FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (self._cfg.slot_name,),
            )
            .fetchone()
        )
        return None if row is None or row["lag"] is None else int(row["lag"])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
