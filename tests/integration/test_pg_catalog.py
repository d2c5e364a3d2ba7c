"""PostgreSQL snapshot chunks, on the real server: exactly the rows of the server's own two-sided
key range, in its own order (an ICU collation here, which Python's string order does not follow),
for a key of two columns; and which transactions a chunk's SELECT saw."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from civicbus.connectors.cdc.pg.catalog import Catalog
from civicbus.connectors.cdc.pg.settings import PgLogSettings

from ..helpers import fresh_database

pytestmark = pytest.mark.integration

_NAMES = ["apple", "Banana", "cherry", "Date", "éclair", "fig", "Grape", "_kiwi", "lime", "Äpfel"]


def test_a_chunk_is_the_servers_key_range_in_its_own_order(postgres_url: str) -> None:
    with fresh_database(postgres_url) as db:
        owner = sa.create_engine(db.reader_url)
        with owner.begin() as conn:
            conn.execute(
                sa.text(
                    'CREATE TABLE t ("Dept" text COLLATE "en-x-icu", n int, v text, PRIMARY KEY ("Dept", n))'
                )
            )
            conn.execute(
                sa.text("INSERT INTO t VALUES (:d, :n, :v)"),
                [{"d": d, "n": n, "v": f"{d}/{n}"} for d in _NAMES for n in (3, 1, 2)],
            )
        owner.dispose()
        dsn = sa.make_url(db.reader_url).set(drivername="postgresql").render_as_string(hide_password=False)
        cfg = PgLogSettings(url=db.reader_url, table="t", key_columns=["Dept", "n"])
        catalog = Catalog(cfg, dsn)
        try:
            with psycopg.connect(dsn) as check:
                ordered = [tuple(r) for r in check.execute('SELECT "Dept", n FROM t ORDER BY "Dept", n')]

                def server(after: tuple[str, int] | None, upto: tuple[str, int], limit: int) -> list[str]:
                    where = '("Dept", n) <= (%s, %s)' + (
                        "" if after is None else ' AND ("Dept", n) > (%s, %s)'
                    )
                    params = [*upto, *(after or ())]
                    query = f'SELECT v FROM t WHERE {where} ORDER BY "Dept", n LIMIT {limit}'
                    return [r[0] for r in check.execute(query, params)]

                assert [d for d, _ in ordered[::3]] != sorted(_NAMES)  # the server's order is not Python's
                cases = [
                    (None, ordered[-1], 4),  # the first chunk
                    (ordered[4], ordered[-1], 7),  # one from the middle
                    (ordered[20], ordered[24], 10),  # cut at ``upto``: rows past it exist
                    (ordered[-1], ordered[-1], 5),  # nothing left
                    (None, ordered[0], 5),  # only the first row is in range
                ]
                for after, upto, limit in cases:
                    rows = catalog.chunk(after, upto, limit)
                    assert [r["v"] for r in rows] == server(after, upto, limit), (after, upto, limit)
                    assert all(set(r) == {"Dept", "n", "v"} for r in rows)
        finally:
            catalog.close()


def test_a_failed_chunk_query_raises_the_servers_error(postgres_url: str) -> None:
    with fresh_database(postgres_url) as db:
        dsn = sa.make_url(db.reader_url).set(drivername="postgresql").render_as_string(hide_password=False)
        cfg = PgLogSettings(url=db.reader_url, table="missing", key_columns=["id"])
        catalog = Catalog(cfg, dsn)
        try:
            with pytest.raises(psycopg.errors.UndefinedTable):
                catalog.chunk(None, [1], 10)
        finally:
            catalog.close()


def test_a_chunks_window_says_which_transactions_its_select_saw(postgres_url: str) -> None:
    """A transaction running while the chunk is selected is unseen, one committed before is seen,
    asked with the 32-bit ids pgoutput's BEGIN carries; the session is left outside a
    transaction, also after a failed SELECT."""
    with fresh_database(postgres_url) as db:
        dsn = sa.make_url(db.reader_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as setup:
            setup.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            setup.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")

        def xid(conn: psycopg.Connection[tuple[int]]) -> int:
            row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
            assert row is not None
            return int(row[0]) % (1 << 32)

        catalog = Catalog(PgLogSettings(url=db.reader_url, table="t", key_columns=["id"]), dsn)
        with psycopg.connect(dsn) as running, psycopg.connect(dsn) as committed:
            try:
                running.execute("UPDATE t SET v = 'x' WHERE id = 1")
                running_xid = xid(running)
                committed.execute("UPDATE t SET v = 'c' WHERE id = 2")
                committed_xid = xid(committed)
                committed.commit()
                first = catalog.window(None, [2], 10)
                assert [(r["id"], r["v"]) for r in first.rows] == [(1, "a"), (2, "c")]
                assert first.unseen is not None and first.low <= first.high
                assert first.unseen(running_xid) and not first.unseen(committed_xid)
                running.commit()
                later = catalog.window(None, [2], 10)
                assert [(r["id"], r["v"]) for r in later.rows] == [(1, "x"), (2, "c")]
                assert later.unseen is not None and not later.unseen(running_xid)
                assert later.unseen(xid(running))  # begun after the SELECT
                assert first.high <= later.low
            finally:
                catalog.close()

        missing = Catalog(PgLogSettings(url=db.reader_url, table="gone", key_columns=["id"]), dsn)
        try:
            with pytest.raises(psycopg.errors.UndefinedTable):
                missing.window(None, [1], 10)
            assert "source.table: 'gone' not found" in missing.problems()  # the session still answers
        finally:
            missing.close()
