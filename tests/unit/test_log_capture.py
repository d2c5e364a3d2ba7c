"""The pieces of log-based capture that need no database: pgoutput's messages decoded, and the
DBLog window deciding which snapshot rows a change overtook."""

from __future__ import annotations

import struct
import subprocess
import sys

import psycopg
import pytest
import sqlalchemy as sa

from civicbus.connectors.cdc import window
from civicbus.connectors.cdc.pg import pgoutput
from civicbus.connectors.cdc.pg.source import libpq_url, shown_url


def _s(text: str) -> bytes:
    return text.encode() + b"\0"


def _tuple(*values: bytes | None) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        out += b"n" if v is None else b"t" + struct.pack("!i", len(v)) + v
    return out


def test_a_transaction_decodes_to_begin_relation_changes_and_commit() -> None:
    ts_us = 10 * 86_400 * 1_000_000  # 2000-01-11 in PostgreSQL's epoch
    begin = pgoutput.decode(b"B" + struct.pack("!QqI", 0x1_0000_0040, ts_us, 777))
    assert begin == pgoutput.Begin(final_lsn=0x1_0000_0040, commit_ts_ms=947_548_800_000, xid=777)
    relation = pgoutput.decode(
        b"R"
        + struct.pack("!I", 16384)
        + _s("public")
        + _s("T_HJ_RKXX")
        + b"f"
        + struct.pack("!h", 2)
        + b"\x01" + _s("RKID") + struct.pack("!Ii", 23, -1)
        + b"\x00" + _s("XM") + struct.pack("!Ii", 25, -1)
    )  # fmt: skip
    assert isinstance(relation, pgoutput.Relation)
    assert (relation.namespace, relation.name, relation.replica_identity) == ("public", "T_HJ_RKXX", "f")
    assert relation.columns == (pgoutput.Column("RKID", 23, True), pgoutput.Column("XM", 25, False))
    insert = pgoutput.decode(b"I" + struct.pack("!I", 16384) + b"N" + _tuple(b"1", "张三".encode()))
    assert insert == pgoutput.Change("c", 16384, new=[b"1", "张三".encode()])
    update = pgoutput.decode(
        b"U" + struct.pack("!I", 16384) + b"O" + _tuple(b"1", b"a") + b"N" + _tuple(b"1", None)
    )
    assert update == pgoutput.Change("u", 16384, new=[b"1", None], old=[b"1", b"a"])
    delete = pgoutput.decode(b"D" + struct.pack("!I", 16384) + b"O" + _tuple(b"1", b"b"))
    assert delete == pgoutput.Change("d", 16384, old=[b"1", b"b"])
    commit = pgoutput.decode(b"C" + struct.pack("!BQQq", 0, 0x1_0000_0040, 0x1_0000_0070, ts_us))
    assert commit == pgoutput.Commit(0x1_0000_0040, 0x1_0000_0070, 947_548_800_000)


def test_unchanged_toast_truncate_and_unused_kinds() -> None:
    raw = b"U" + struct.pack("!I", 9) + b"N" + struct.pack("!h", 2) + b"t" + struct.pack("!i", 1) + b"7u"
    change = pgoutput.decode(raw)
    assert isinstance(change, pgoutput.Change) and change.new == [b"7", pgoutput.UNCHANGED]
    assert pgoutput.decode(b"T" + struct.pack("!IB", 2, 0) + struct.pack("!II", 9, 10)) == pgoutput.Truncate(
        (9, 10)
    )
    assert pgoutput.decode(b"O" + struct.pack("!Q", 1) + _s("origin")) is None


def test_an_unknown_message_is_an_error_not_a_silent_skip() -> None:
    try:
        pgoutput.decode(b"Z")
    except ValueError as exc:
        assert "unknown message kind" in str(exc)
    else:
        raise AssertionError("decoded an unknown message")


def test_a_change_at_or_after_the_low_watermark_drops_the_chunk_row_one_before_it_does_not() -> None:
    rows = [{"id": i} for i in (1, 2, 3)]
    chunk = window.Chunk(low=100, high=200, rows=rows, last=[3], complete=False, columns=["id"])
    assert chunk.remaining() == rows  # no change came: every row, as selected
    chunk.touched(("1",), 99)  # committed before the chunk was selected: the chunk's copy is newer
    chunk.touched(("2",), 150)  # between the watermarks: the change carries the newer state
    chunk.touched(("9",), 150)  # not in the chunk
    assert [r["id"] for r in chunk.remaining()] == [1, 3]
    assert not chunk.closes_at(199) and chunk.closes_at(200)


def test_keys_compare_as_text_across_a_select_and_the_log() -> None:
    import decimal

    assert window.key_of({"a": 7, "b": "x"}, ["a", "b"]) == window.key_of(
        {"a": decimal.Decimal(7), "b": "x"}, ["a", "b"]
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://civicbus:civicbus@127.0.0.1:54329/civicbus",
        "postgresql+psycopg2://u%40x:p%2Fw%40d@h:5/db?sslmode=disable&application_name=a",
        "postgresql://u@h/db",
        "postgres://u:@h/db",
    ],
)
def test_a_log_connectors_url_reaches_libpq_and_its_events_as_sqlalchemy_reads_it(url: str) -> None:
    parsed = sa.make_url(url)
    assert shown_url(url) == parsed.render_as_string(hide_password=True)
    as_sqlalchemy = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    assert psycopg.conninfo.conninfo_to_dict(libpq_url(url)) == psycopg.conninfo.conninfo_to_dict(
        as_sqlalchemy
    )


def test_a_log_connector_loads_no_other_source_types_driver() -> None:
    """A connector's memory holds only its own source type: not SQLAlchemy, PyMySQL, the binlog
    reader or openpyxl for a pgoutput connector, nor fastavro where cavro encodes."""
    others = ["sqlalchemy", "pymysql", "pymysqlreplication", "openpyxl", "fastavro", "tqdm"]
    probe = (
        "import sys; import civicbus.connectors.wiring, civicbus.connectors.plan; "
        "from civicbus.connectors.kinds import source_type; source_type('pgoutput'); "
        f"print([m for m in {others!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
