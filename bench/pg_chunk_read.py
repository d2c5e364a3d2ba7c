"""How a log-based snapshot reads a chunk from PostgreSQL: the choice in
:meth:`civicbus.connectors.cdc.pg.catalog.Catalog.chunk`, by numbers.

    .venv/bin/python -m bench.pg_chunk_read [--url URL] [--table bench_peer] [--chunks 20]

Reads the same 5,000-row key chunks of a table (bench.peer_debezium leaves ``bench_peer``
filled) four ways, alternating chunk by chunk, each into the list of row dicts the capture
keeps: one ``PQexecParams`` in text format loaded by psycopg's C loaders (what the connector
does); ``COPY (SELECT …) TO STDOUT`` in text and in binary format, rows parsed by psycopg's copy;
and a server-side (named) cursor fetching the chunk. Prints the median wall and client CPU
microseconds per row; all four must return the same rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from civicbus.connectors.cdc.pg.catalog import fetch

CHUNK = 5000
Read = Callable[[int], list[dict[str, Any]]]


def readers(conn: psycopg.Connection[Any], table: str, key: str) -> dict[str, Read]:
    relation, column = sql.Identifier(table), sql.Identifier(key)
    described = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(relation))
    assert described.description is not None
    columns = [c.name for c in described.description]
    types = [c.type_code for c in described.description]

    def query(after: sql.Composable) -> sql.Composable:
        return sql.SQL("SELECT * FROM {} WHERE {} > {} ORDER BY {} LIMIT {}").format(
            relation, column, after, column, sql.Literal(CHUNK)
        )

    def exec_text(after: int) -> list[dict[str, Any]]:
        names, rows = fetch(conn, query(sql.SQL("$1")), [after])
        return [dict(zip(names, row, strict=True)) for row in rows]

    def copy(binary: bool) -> Read:
        def read(after: int) -> list[dict[str, Any]]:
            statement = sql.SQL("COPY ({}) TO STDOUT{}").format(
                query(sql.Literal(after)), sql.SQL(" (FORMAT BINARY)" if binary else "")
            )
            with conn.cursor().copy(statement) as rows:
                rows.set_types(types)
                return [dict(zip(columns, row, strict=True)) for row in rows.rows()]

        return read

    def named_cursor(after: int) -> list[dict[str, Any]]:
        with conn.transaction(), conn.cursor(name="chunk") as cursor:
            cursor.itersize = CHUNK
            cursor.execute(query(sql.SQL("%s")), [after])
            return [dict(zip(columns, row, strict=True)) for row in cursor]

    return {
        "PQexecParams, text (connector)": exec_text,
        "COPY, text": copy(binary=False),
        "COPY, binary": copy(binary=True),
        "server-side cursor": named_cursor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://civicbus:civicbus@127.0.0.1:54329/civicbus")
    parser.add_argument("--table", default="bench_peer")
    parser.add_argument("--key", default="RKID")
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    with psycopg.connect(args.url, autocommit=True) as conn:
        ways = readers(conn, args.table, args.key)
        firsts = [read(0) for read in ways.values()]
        if any(rows != firsts[0] for rows in firsts) or len(firsts[0]) < CHUNK:
            raise SystemExit(f"the readers disagree, or {args.table} has fewer than {CHUNK} rows")
        wall: dict[str, list[float]] = {name: [] for name in ways}
        cpu: dict[str, list[float]] = {name: [] for name in ways}
        for n in range(args.chunks):
            for name, read in ways.items():
                began, used = time.perf_counter(), time.process_time()
                read(n * CHUNK)
                wall[name].append((time.perf_counter() - began) / CHUNK * 1e6)
                cpu[name].append((time.process_time() - used) / CHUNK * 1e6)
    print(f"{args.chunks} chunks of {CHUNK:,} rows from {args.table}, median µs per row")
    print(f"{'read':32s} {'wall':>7s} {'client CPU':>11s}")
    for name in ways:
        print(f"{name:32s} {statistics.median(wall[name]):7.2f} {statistics.median(cpu[name]):11.2f}")


if __name__ == "__main__":
    main()
