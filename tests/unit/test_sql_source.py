"""SqlSource on SQLite: snapshot positions, full and compact, are valid resume points."""

from pathlib import Path

import sqlalchemy as sa

from civicbus.connectors.sql.settings import SqlSettings
from civicbus.connectors.sql.source import SqlSource


def make(tmp: Path, n: int) -> str:
    url = f"sqlite:///{tmp / 's.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        conn.execute(
            sa.text("INSERT INTO t (id, v) VALUES (:i, :v)"),
            [{"i": i, "v": f"v{i}"} for i in range(1, n + 1)],
        )
    engine.dispose()
    return url


def source(url: str) -> SqlSource:
    cfg = SqlSettings.model_validate(
        {
            "url": url,
            "table": "t",
            "mode": "incrementing",
            "incrementing_column": "id",
            "key_columns": ["id"],
            "initial_snapshot": True,
        }
    )
    s = SqlSource(cfg, ["v"])
    s.setup()
    return s


def drain(s: SqlSource, position: object, limit: int = 4) -> tuple[list[int], object]:
    ids: list[int] = []
    while rows := s.read(position, limit):
        ids += [int(r.values["id"]) for r in rows]
        position = rows[-1].position
    return ids, position


def test_snapshot_then_stream_from_full_and_compact_positions(tmp_path: Path) -> None:
    url = make(tmp_path, 10)
    s = source(url)
    first = s.read(None, 4)
    assert [r.values["id"] for r in first] == [1, 2, 3, 4]
    assert set(first[0].position["snapshot"]) == {"key", "rows"}  # compact
    assert {"total", "mark"} <= set(first[-1].position["snapshot"])  # full
    assert s.progress() == (4, 10)
    rest, final = drain(source(url), first[-1].position)
    assert rest == [5, 6, 7, 8, 9, 10] and "hwm" in final  # handed over to the stream
    # a compact position resumes too: after its key, counting again, streaming from the start
    again, _ = drain(source(url), first[1].position)
    assert again[:8] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert sorted(set(again)) == list(range(1, 11))  # coarser (re-sends), never ahead
    s.close()


def insert(url: str, ids: range) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t (id, v) VALUES (:i, :v)"), [{"i": i, "v": f"v{i}"} for i in ids])
    engine.dispose()


def test_a_snapshot_ending_on_a_chunk_boundary_leaves_later_rows_to_the_stream_once(tmp_path: Path) -> None:
    url = make(tmp_path, 10)
    s = source(url)
    ids, position = [], None
    for _ in range(2):  # two full chunks of 5: the snapshot cannot yet know it is done
        rows = s.read(position, 5)
        ids += [int(r.values["id"]) for r in rows]
        position = rows[-1].position
    insert(url, range(11, 16))  # written after the snapshot began
    rest, _ = drain(s, position, 5)
    assert ids + rest == list(range(1, 16))  # each row once: 11-15 by the stream, not twice
    s.close()


def test_rows_with_no_ordering_value_are_counted_and_reported_not_a_crash(tmp_path: Path) -> None:
    import datetime as dt

    url = f"sqlite:///{tmp_path / 'n.db'}"
    engine = sa.create_engine(url)
    t0 = dt.datetime(2026, 1, 1, 8)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, ts TIMESTAMP)"))
        conn.execute(
            sa.text("INSERT INTO t (id, v, ts) VALUES (:i, :v, :ts)"),
            [{"i": 1, "v": "a", "ts": t0}, {"i": 2, "v": "b", "ts": None}, {"i": 3, "v": "c", "ts": t0}],
        )
    engine.dispose()
    cfg = SqlSettings.model_validate(
        {"url": url, "table": "t", "mode": "timestamp", "timestamp_column": "ts", "key_columns": ["id"]}
    )
    s = SqlSource(cfg, ["v"])
    s.setup()
    ids, position = drain(s, None)
    assert ids == [1, 3]
    health = s.health(position)
    assert health is not None and health.unplaced == 1 and health.pending == 0
    assert any("1 row(s) have no value in ts" in p for p in s.problems([]))
    s.close()


def test_a_bulk_update_inside_the_rescan_window_keeps_the_position_small_and_late_rows_found(
    tmp_path: Path,
) -> None:
    import datetime as dt
    import json

    url = f"sqlite:///{tmp_path / 'bulk.db'}"
    engine = sa.create_engine(url)
    t0 = dt.datetime(2026, 1, 1, 8)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, ts TIMESTAMP)"))
        conn.execute(  # one UPDATE touching 13,000 rows: all inside a 300 s window
            sa.text("INSERT INTO t (id, v, ts) VALUES (:i, :v, :ts)"),
            [{"i": i, "v": "x", "ts": t0 + dt.timedelta(milliseconds=i)} for i in range(1, 13_001)],
        )
    cfg = SqlSettings.model_validate(
        {
            "url": url,
            "table": "t",
            "mode": "timestamp",
            "timestamp_column": "ts",
            "key_columns": ["id"],
            "rescan_window": 300,
            "rescan_every_s": 0,
        }
    )
    s = SqlSource(cfg, ["v"])
    s.setup()
    ids, position = drain(s, None, limit=1000)
    assert ids == list(range(1, 13_001))
    assert len(json.dumps(position)) < 512 * 1024, "the position must fit a Kafka record with room"
    with engine.begin() as conn:  # a transaction that took a time inside the window commits late
        late = t0 + dt.timedelta(milliseconds=12_999, microseconds=500)
        conn.execute(sa.text("INSERT INTO t (id, v, ts) VALUES (20000, 'late', :ts)"), {"ts": late})
    more, _ = drain(s, position, limit=1000)
    assert more == [20000]
    engine.dispose()
    s.close()
