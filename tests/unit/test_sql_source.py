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
