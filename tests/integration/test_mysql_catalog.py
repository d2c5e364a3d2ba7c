"""MariaDB snapshot chunks, on the real server: a chunk is read in a consistent snapshot whose
binlog position is both its watermarks: what committed before it is in the rows, what commits
after it is in the binlog past it."""

from __future__ import annotations

import pymysql
import pytest
import sqlalchemy as sa

from civicbus.connectors.cdc.mysql.catalog import Catalog, point
from civicbus.connectors.cdc.mysql.settings import BinlogSettings

from ..helpers import fresh_mariadb

pytestmark = pytest.mark.integration


def test_a_chunks_watermark_is_the_binlog_position_of_its_snapshot(mariadb_url: str) -> None:
    with fresh_mariadb(mariadb_url) as db:
        with db.writer.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id int PRIMARY KEY, v text)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'a'), (2, 'b')"))
        url = sa.make_url(db.reader_url)
        login = {"host": url.host, "port": url.port, "user": url.username, "password": url.password}
        catalog = Catalog(
            BinlogSettings(url=db.reader_url, table="t", key_columns=["id"]),
            {**login, "database": url.database, "charset": "utf8mb4"},
        )
        running = pymysql.connect(**login, database=url.database, autocommit=False)
        try:
            with running.cursor() as cur:
                cur.execute("UPDATE t SET v = 'x' WHERE id = 1")
            first = catalog.window(None, [2], 10)
            assert [(r["id"], r["v"]) for r in first.rows] == [(1, "a"), (2, "b")]
            assert first.low == first.high and first.unseen is None
            running.commit()  # after the snapshot: its events lie past the watermark
            assert point(*catalog.master()) > first.low
            later = catalog.window(None, [2], 10)
            assert [(r["id"], r["v"]) for r in later.rows] == [(1, "x"), (2, "b")]
            assert later.low == point(*catalog.master())
        finally:
            running.close()
            catalog.close()
