"""PostgreSQL snapshot chunks, on the real server: exactly the rows of the server's own two-sided
key range, in its own order (an ICU collation here, which Python's string order does not follow),
for a key of two columns."""

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
