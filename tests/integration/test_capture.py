"""Query-based capture where JDBC-source users lose rows, on real PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from ..helpers import answers, decoder, read_topic, running, spawn, stop, unique, wait_until

pytestmark = pytest.mark.integration
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def write_connector(tmp: Path, **cfg: Any) -> tuple[Path, dict[str, Any]]:
    doc = {
        "name": unique("capture"),
        "department": "测试",
        "system": "test",
        "poll_interval_s": 0.2,
        "batch_size": 100,
        **cfg,
    }
    doc["target"] = {"topic": unique("capture"), "partitions": 1, **cfg["target"]}
    path = tmp / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path, doc


def entities(table: str, zoned: bool = False) -> sa.Table:
    """``zoned``: gxsj is a zoned timestamp (PostgreSQL timestamptz, MySQL/MariaDB TIMESTAMP)."""
    return sa.Table(
        table,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(18), nullable=False),
        sa.Column("mc", sa.String(100), nullable=False),
        sa.Column("zt", sa.String(10), nullable=False, server_default="存续"),
        sa.Column("scbz", sa.String(1), nullable=False, server_default="0"),
        sa.Column(
            "gxsj",
            sa.TIMESTAMP(timezone=True) if zoned else sa.DateTime,
            nullable=False,
            server_default=sa.func.now(),
        ),
    )


def credit_code(n: int) -> str:
    from civicbus.schemas.standards import uscc

    org = f"{n:08d}"
    first17 = "91110000" + org + uscc.org_check_char(org)
    return first17 + uscc.check_char(first17)


ENTITY_MAPPING = {
    "credit_code": {"column": "code", "transform": "uscc"},
    "name": {"column": "mc"},
    "entity_type": {"const": "91"},
    "status": {"column": "zt", "codes": {"存续": "ACTIVE", "吊销": "REVOKED", "注销": "CANCELLED"}},
}


@dataclass
class Entities:
    """A fresh legal-entity table in a real database, and a connector file that reads it."""

    engine: sa.Engine
    table: sa.Table
    path: Path
    cfg: dict[str, Any]

    @property
    def topic(self) -> str:
        return str(self.cfg["target"]["topic"])

    def insert(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.insert(), rows)

    def update(self, row_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == row_id).values(**values))


@contextmanager
def entity_connector(
    tmp: Path,
    url: str,
    *,
    target: dict[str, Any] | None = None,
    batch_size: int = 100,
    zoned: bool = False,
    **source: Any,
) -> Iterator[Entities]:
    """Create the table, write the connector file (LegalEntity, keyed by credit code), and drop
    the table afterwards. ``source`` adds to url, table and key_columns [id]."""
    engine = sa.create_engine(url)
    table = entities(unique("ent").replace("-", "_"), zoned)
    table.create(engine)
    try:
        path, cfg = write_connector(
            tmp,
            mapping=ENTITY_MAPPING,
            target={"schema": "LegalEntity", "key": "credit_code", **(target or {})},
            source={"url": url, "table": str(table.name), "key_columns": ["id"], **source},
            batch_size=batch_size,
        )
        yield Entities(engine, table, path, cfg)
    finally:
        table.drop(engine)
        engine.dispose()


def named(n: int, **extra: Any) -> dict[str, Any]:
    """Row ``n`` of an entity table: a valid credit code and the name 单位n."""
    return {"code": credit_code(n), "mc": f"单位{n}", **extra}


@pytest.mark.parametrize("mode", ["incrementing", "timestamp+incrementing"])
def test_rows_committed_out_of_order_behind_the_mark_are_delivered(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    database_url: str,
    mode: str,
) -> None:
    window: dict[str, Any] = (
        {"rescan_window": 100}  # ids
        if mode == "incrementing"
        else {"timestamp_column": "gxsj", "rescan_window": 120, "timezone": "UTC"}
    )
    with entity_connector(tmp_path, database_url, mode=mode, incrementing_column="id", **window) as ent:
        late = ent.engine.connect()
        try:
            # a long transaction takes id 1 (and the older timestamp) and stays open …
            tx = late.begin()
            late.execute(ent.table.insert().values(code=credit_code(1), mc="长事务单位"))
            time.sleep(1.1)
            # … while a short one takes id 2 and commits first
            ent.insert([{"code": credit_code(2), "mc": "先提交单位"}])
            with running(["connectors", "run", str(ent.path)], bus_env, logs / "c.log"):
                first = read_topic(bootstrap, ent.topic, 1, timeout=60, settle=1.5)
                assert len(first) == 1, "only the committed row is visible yet"
                tx.commit()
                records = read_topic(bootstrap, ent.topic, 2, timeout=120, settle=2.0)
        finally:
            late.close()
    decode = decoder(registry_url)
    names = [decode(r.value)["after"]["name"] for r in records]
    assert sorted(names) == ["先提交单位", "长事务单位"], names  # delivered late, exactly once


def test_rows_sharing_one_timestamp_survive_a_restart(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    postgres_url: str,
) -> None:
    same = dt.datetime(2026, 3, 1, 9, 0, 0)
    with entity_connector(
        tmp_path, postgres_url, batch_size=3, mode="timestamp", timestamp_column="gxsj", max_rows_per_s=3
    ) as ent:
        ent.insert([named(i, gxsj=same) for i in range(1, 11)])
        proc = spawn(["connectors", "run", str(ent.path)], bus_env, logs / "c1.log")
        read_topic(bootstrap, ent.topic, 3, timeout=60)
        assert stop(proc, signal.SIGTERM) == 0  # a clean stop saves the position it reached
        before = len(read_topic(bootstrap, ent.topic, 3, timeout=60, settle=0.5))
        assert before < 10, "the rate cap should have stopped it part-way"
        with running(["connectors", "run", str(ent.path)], bus_env, logs / "c2.log"):
            records = read_topic(bootstrap, ent.topic, 10, timeout=60, settle=1.5)
    decode = decoder(registry_url)
    keys = [json.loads(decode(r.value)["source"]["key"])["id"] for r in records]
    assert sorted(keys, key=int) == [str(i) for i in range(1, 11)], keys  # none lost, none twice


def test_decimals_dates_zoned_and_unzoned_timestamps_and_gbk_latin1_text_arrive_correct(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    postgres_url: str,
    mariadb_url: str,
) -> None:
    import decimal

    meters, ents = unique("meter").replace("-", "_"), unique("ent").replace("-", "_")
    pg, maria = sa.create_engine(postgres_url), sa.create_engine(mariadb_url)
    with pg.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {meters} (id serial PRIMARY KEY, bh text NOT NULL, "
                "ds numeric(12,3) NOT NULL, cbsj timestamp NOT NULL, cbsj_tz timestamptz NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {meters} (bh, ds, cbsj, cbsj_tz) VALUES "
                "('W-1', 12345.678, '2026-01-01 08:00:00', '2026-01-01 08:00:00+08'),"
                "('W-2', 7.5, '2026-01-02 08:00:00', '2026-01-02 00:00:00+00')"
            )
        )
    with maria.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {ents} (id INT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(18), "
                "mc VARCHAR(100) CHARACTER SET gbk, fddbr VARCHAR(100) CHARACTER SET latin1, "
                "clrq DATE, zt VARCHAR(10) CHARACTER SET gbk)"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {ents} (code, mc, fddbr, clrq, zt) VALUES "
                "(:c, '北京市朝阳区建外街道社区卫生服务中心', 'Jürgen Müller', '1998-07-01', '存续')"
            ),
            {"c": credit_code(7)},
        )
    meter_map = {
        "meter_id": {"column": "bh"},
        "utility": {"const": "WATER"},
        "unit": {"const": "m³"},
        "reading": {"column": "ds"},
    }
    local_yaml, local = write_connector(
        tmp_path,
        mapping={**meter_map, "read_at": {"column": "cbsj"}},
        target={"schema": "MeterReading", "key": "meter_id"},
        source={
            "url": postgres_url,
            "table": meters,
            "mode": "incrementing",
            "incrementing_column": "id",
            "key_columns": ["id"],
        },
    )
    zoned_yaml, zoned = write_connector(
        tmp_path,
        mapping={**meter_map, "read_at": {"column": "cbsj_tz"}},
        target={"schema": "MeterReading", "key": "meter_id"},
        source={
            "url": postgres_url,
            "table": meters,
            "mode": "incrementing",
            "incrementing_column": "id",
            "key_columns": ["id"],
        },
    )
    ent_yaml, ent = write_connector(
        tmp_path,
        mapping={
            **ENTITY_MAPPING,
            "legal_representative": {"column": "fddbr"},
            "established_on": {"column": "clrq"},
        },
        target={"schema": "LegalEntity", "key": "credit_code"},
        source={
            "url": mariadb_url,
            "table": ents,
            "mode": "incrementing",
            "incrementing_column": "id",
            "key_columns": ["id"],
        },
    )
    proc = spawn(
        ["connectors", "run", str(local_yaml), str(zoned_yaml), str(ent_yaml)], bus_env, logs / "c.log"
    )
    try:
        decode = decoder(registry_url)
        for cfg in (local, zoned):
            after = [decode(r.value)["after"] for r in read_topic(bootstrap, cfg["target"]["topic"], 2)]
            assert [a["reading"] for a in after] == [decimal.Decimal("12345.678"), decimal.Decimal("7.500")]
            assert [a["read_at"] for a in after] == [
                dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC),
                dt.datetime(2026, 1, 2, 0, 0, tzinfo=dt.UTC),
            ]
        legal = decode(read_topic(bootstrap, ent["target"]["topic"], 1)[0].value)["after"]
        assert legal["name"] == "北京市朝阳区建外街道社区卫生服务中心"
        assert legal["legal_representative"] == "Jürgen Müller"
        assert legal["established_on"] == dt.date(1998, 7, 1) and legal["status"] == "ACTIVE"
    finally:
        stop(proc)
        with pg.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {meters}"))
        with maria.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {ents}"))
        pg.dispose()
        maria.dispose()


def test_soft_delete_becomes_a_delete_event_and_a_tombstone(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
) -> None:
    t0 = dt.datetime(2026, 1, 1, 8, 0, 0)
    with entity_connector(
        tmp_path,
        f"sqlite:///{tmp_path / 'ent.db'}",
        target={"tombstones": True},
        mode="timestamp",
        timestamp_column="gxsj",
        soft_delete={"column": "scbz", "values": ["1"]},
    ) as ent:
        ent.insert([named(i, gxsj=t0) for i in (1, 2)])
        with running(["connectors", "run", str(ent.path)], bus_env, logs / "c.log"):
            read_topic(bootstrap, ent.topic, 2)
            ent.update(1, scbz="1", gxsj=t0 + dt.timedelta(1))
            records = read_topic(bootstrap, ent.topic, 4)
    decode = decoder(registry_url)
    deleted, tombstone = records[2], records[3]
    event = decode(deleted.value)
    assert event["op"] == "d" and event["after"] is None and event["before"]["name"] == "单位1"
    assert tombstone.value is None and tombstone.key == deleted.key
    assert decode(tombstone.key) == credit_code(1)


def test_database_outage_is_retried_and_recovered_without_a_restart(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    postgres_url: str,
) -> None:
    import subprocess

    version = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))[-1].name
    with entity_connector(tmp_path, postgres_url, mode="incrementing", incrementing_column="id") as ent:
        ent.insert([{"code": credit_code(1), "mc": "停机前"}])
        with running(["connectors", "run", str(ent.path)], bus_env, logs / "c.log") as proc:
            read_topic(bootstrap, ent.topic, 1)
            subprocess.run(["pg_ctlcluster", version, "civicbus", "stop", "-m", "fast"], check=True)
            try:
                wait_until(lambda: "source.read_failed" in (logs / "c.log").read_text(), 120, "a retry log")
                assert proc.poll() is None
            finally:
                subprocess.run(["pg_ctlcluster", version, "civicbus", "start"], check=True)
            wait_until(lambda: answers(ent.engine), 120, "PostgreSQL back")
            ent.insert([{"code": credit_code(2), "mc": "恢复后"}])
            records = read_topic(bootstrap, ent.topic, 2, timeout=60)
    assert decoder(registry_url)(records[-1].value)["after"]["name"] == "恢复后"


def test_broker_outage_mid_run_is_waited_out(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    logs: Path,
) -> None:
    from civicbus.ops.kafka import broker
    from civicbus.ops.kafka.settings import BrokerSettings

    from ..helpers import free_port

    own = BrokerSettings(home=tmp_path / "kafka", port=free_port(), controller_port=free_port())
    own_lib = own.home / "lib"
    own_lib.parent.mkdir(parents=True)
    own_lib.symlink_to((Path(__file__).resolve().parents[2] / ".civicbus/test-kafka/lib").resolve())
    broker.start(own)
    env = {**bus_env, "CIVICBUS_BOOTSTRAP_SERVERS": own.bootstrap}
    try:
        with entity_connector(
            tmp_path, f"sqlite:///{tmp_path / 'ent.db'}", mode="incrementing", incrementing_column="id"
        ) as ent:
            ent.insert([{"code": credit_code(1), "mc": "中断前"}])
            with running(["connectors", "run", str(ent.path)], env, logs / "c.log") as proc:
                read_topic(own.bootstrap, ent.topic, 1)
                broker.stop(own)
                ent.insert([{"code": credit_code(2), "mc": "中断中"}])
                time.sleep(3)
                assert proc.poll() is None, "the connector died with the broker"
                broker.start(own)
                records = read_topic(own.bootstrap, ent.topic, 2, timeout=120)
    finally:
        broker.stop(own)
    names = [decoder(registry_url)(r.value)["after"]["name"] for r in records]
    assert names[0] == "中断前" and "中断中" in names


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_every_source_session_is_read_only_in_the_database(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from civicbus.connectors.sql.source import read_only_engine

    url = {"sqlite": f"sqlite:///{tmp_path / 'x.db'}"}.get(kind) or str(
        request.getfixturevalue("postgres_url" if kind == "postgresql" else "mariadb_url")
    )
    table = unique("ro").replace("-", "_")
    writer = sa.create_engine(url)
    with writer.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)"))
    reader = read_only_engine(url)
    try:
        with reader.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0
        with pytest.raises(sa.exc.DBAPIError) as err, reader.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table} (id) VALUES (1)"))
        assert "read" in str(err.value.orig).lower()
    finally:
        reader.dispose()
        with writer.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        writer.dispose()


def test_a_custom_read_only_query_is_captured_like_a_table(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    postgres_url: str,
) -> None:
    reg, state = unique("djxx").replace("-", "_"), unique("zt").replace("-", "_")
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {reg} (id serial PRIMARY KEY, code text, mc text, "
                "gxsj timestamp NOT NULL DEFAULT now())"
            )
        )
        conn.execute(sa.text(f"CREATE TABLE {state} (reg_id int, zt text)"))
        for i, (name, status) in enumerate([("甲公司", "存续"), ("乙公司", "注销"), ("丙公司", "存续")], 1):
            conn.execute(
                sa.text(f"INSERT INTO {reg} (code, mc) VALUES (:c, :m)"), {"c": credit_code(i), "m": name}
            )
            conn.execute(sa.text(f"INSERT INTO {state} VALUES (:i, :z)"), {"i": i, "z": status})
    query = (
        f"SELECT r.id, r.code, r.mc, s.zt, r.gxsj FROM {reg} r JOIN {state} s ON s.reg_id = r.id "
        "WHERE s.zt <> '注销'"
    )
    path, cfg = write_connector(
        tmp_path,
        mapping=ENTITY_MAPPING,
        target={"schema": "LegalEntity", "key": "credit_code"},
        source={
            "url": postgres_url,
            "query": query,
            "mode": "timestamp+incrementing",
            "timestamp_column": "gxsj",
            "incrementing_column": "id",
            "key_columns": ["id"],
        },
    )
    proc = spawn(["connectors", "run", str(path)], bus_env, logs / "q.log")
    try:
        records = read_topic(bootstrap, cfg["target"]["topic"], 2, timeout=60, settle=1.0)
        events = [decoder(registry_url)(r.value) for r in records]
        assert sorted(e["after"]["name"] for e in events) == ["丙公司", "甲公司"]
        assert events[0]["source"]["table"] == "query"
    finally:
        stop(proc)
    bad = yaml.safe_load(path.read_text(encoding="utf-8"))
    bad["source"]["query"] = "SELECT nothing FROM nowhere"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    from civicbus.connectors.plan import problems

    assert any("source.query does not run" in p for p in problems(path))
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {reg}; DROP TABLE {state}"))
    engine.dispose()


def test_snapshot_by_key_resumes_after_sigkill_and_reports_progress(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    postgres_url: str,
) -> None:
    import requests

    from ..helpers import free_port

    port = free_port()

    def gauges() -> dict[str, float] | None:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        found = {
            line.split("{")[0]: float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("civicbus_connector_snapshot")
        }
        return found if found.get("civicbus_connector_snapshot_rows") == 2500 else None

    with entity_connector(
        tmp_path, postgres_url, batch_size=200, mode="snapshot", max_rows_per_s=1500
    ) as ent:
        ent.insert([named(i) for i in range(1, 2501)])  # no timestamps in order: only the key
        proc = spawn(["connectors", "run", str(ent.path)], bus_env, logs / "s1.log")
        try:
            read_topic(bootstrap, ent.topic, 600, timeout=60)
        finally:
            stop(proc, signal.SIGKILL)
        env = {**bus_env, "CIVICBUS_CONNECTOR_METRICS_PORT": str(port)}
        with running(["connectors", "run", str(ent.path)], env, logs / "s2.log"):
            records = read_topic(bootstrap, ent.topic, 2500, timeout=90, settle=1.5)
            seen = wait_until(gauges, 60, "the snapshot gauges")
    assert seen["civicbus_connector_snapshot_total_rows"] == 2500
    ids = [json.loads(decoder(registry_url)(r.value)["source"]["key"])["id"] for r in records]
    assert set(ids) == {str(i) for i in range(1, 2501)}
    assert len(ids) - 2500 <= 2 * 200, "duplicates beyond the batches in flight"


def test_initial_snapshot_then_streaming_picks_up_changes_made_after_it(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    mariadb_url: str,
) -> None:
    t0 = dt.datetime(2026, 1, 1, 8)
    with entity_connector(
        tmp_path,
        mariadb_url,
        batch_size=20,
        mode="timestamp",
        timestamp_column="gxsj",
        initial_snapshot=True,
        timezone="UTC",
    ) as ent:
        ent.insert([named(i, gxsj=t0) for i in range(1, 51)])
        with running(["connectors", "run", str(ent.path)], bus_env, logs / "i.log"):
            read_topic(bootstrap, ent.topic, 50, timeout=60)
            ent.update(7, zt="吊销", gxsj=t0 + dt.timedelta(1))
            ent.insert([{"code": credit_code(51), "mc": "新单位", "gxsj": t0 + dt.timedelta(1)}])
            records = read_topic(bootstrap, ent.topic, 52, timeout=60, settle=1.5)
    after = [decoder(registry_url)(r.value)["after"] for r in records]
    assert len(records) == 52  # 50 from the snapshot, then the update and the insert, once each
    assert after[-2]["credit_code"] == credit_code(7) and after[-2]["status"] == "REVOKED"
    assert after[-1]["name"] == "新单位"


def test_hard_deletes_are_found_by_reconciling_keys(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    postgres_url: str,
) -> None:
    with entity_connector(
        tmp_path,
        postgres_url,
        target={"tombstones": True},
        mode="incrementing",
        incrementing_column="id",
        reconcile_interval_s=1,
    ) as ent:
        ent.insert([named(i) for i in range(1, 6)])
        with running(["connectors", "run", str(ent.path)], bus_env, logs / "h.log"):
            read_topic(bootstrap, ent.topic, 5)
            with ent.engine.begin() as conn:
                conn.execute(ent.table.delete().where(ent.table.c.id.in_([2, 4])))
            read_topic(bootstrap, ent.topic, 9, timeout=120)
            time.sleep(3)  # later reconciliations find nothing more: the index forgot them
            records = read_topic(bootstrap, ent.topic, 9, timeout=60, settle=1.0)
    assert len(records) == 9, len(records)
    decode = decoder(registry_url)
    deletes = [decode(r.value) for r in records[5:] if r.value is not None]
    tombstones = [r for r in records[5:] if r.value is None]
    assert sorted(e["before"]["name"] for e in deletes) == ["单位2", "单位4"]
    assert all(e["op"] == "d" and e["after"] is None for e in deletes)
    assert {decode(t.key) for t in tombstones} == {credit_code(2), credit_code(4)}


def test_settle_holds_back_recent_rows_of_a_zoned_timestamp_column_and_times_are_right(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    database_url: str,
) -> None:
    """settle_s compares in the column's own terms: a timestamptz / MySQL TIMESTAMP column is not
    a naive local time (the server here runs in UTC, the connector's zone is Asia/Shanghai)."""
    with entity_connector(
        tmp_path, database_url, zoned=True, mode="timestamp", timestamp_column="gxsj", settle_s=60
    ) as ent:
        ago = (
            (lambda s: sa.text(f"now() - interval '{s} seconds'"))
            if ent.engine.dialect.name == "postgresql"
            else (lambda s: sa.text(f"NOW() - INTERVAL {s} SECOND"))
        )
        with ent.engine.begin() as conn:
            conn.execute(ent.table.insert().values(code=credit_code(1), mc="早", gxsj=ago(120)))
            conn.execute(ent.table.insert().values(code=credit_code(2), mc="新", gxsj=ago(5)))
        with running(["connectors", "run", str(ent.path)], bus_env, logs / "settle.log"):
            records = read_topic(bootstrap, ent.topic, 1, timeout=60, settle=3.0)
    events = [decoder(registry_url)(r.value) for r in records]
    assert [e["after"]["name"] for e in events] == ["早"], "the 5-second-old row must wait out settle_s"
    written_s_ago = time.time() - events[0]["source_ts_ms"].timestamp()
    assert 100 < written_s_ago < 600, f"source time off by {written_s_ago - 120:.0f} s"
