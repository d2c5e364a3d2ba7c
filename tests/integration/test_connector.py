"""SQL connectors on the real broker: delivery, dead letters, crash recovery, PostgreSQL, outages."""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from civicbus.demo.generate import (
    HUKOU,
    MINZHENG,
    create,
    generate,
    hukou_row,
    local_now,
    minzheng_row,
    person,
)

from ..helpers import connector_file, decoder, free_port, read_topic, spawn, stop, unique, wait_until

pytestmark = pytest.mark.integration


def sqlite_dbs(tmp_path: Path, residents: int, **kw: float) -> tuple[str, str, int, int]:
    hukou, minzheng = f"sqlite:///{tmp_path / 'hukou.db'}", f"sqlite:///{tmp_path / 'minzheng.db'}"
    h, m = generate(hukou, minzheng, residents, **kw)
    return hukou, minzheng, h, m


def test_rows_become_events_and_bad_rows_dead_letter_while_good_rows_flow(
    tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    _, minzheng, _, m = sqlite_dbs(tmp_path, 400, bad_rate=0.05)
    path, cfg = connector_file(tmp_path, "minzheng-subsidy.yaml", minzheng, batch_size=50)
    engine = sa.create_engine(minzheng)
    with engine.connect() as conn:
        bad_ids = {
            str(r.id)
            for r in conn.execute(sa.select(MINZHENG.c.id, MINZHENG.c.sfzh))
            if len(r.sfzh) == 18 and r.sfzh.isascii() and r.sfzh[:17].isdigit() and _bad_check(r.sfzh)
        }
    assert bad_ids, "the generator should have written some bad ID numbers"
    proc = spawn(["connectors", "run", str(path)], bus_env, logs / "c.log")
    try:
        good = read_topic(bootstrap, cfg["target"]["topic"], m - len(bad_ids), timeout=60)
        dlq_topic = f"civicbus.deadletter.{cfg['name']}"
        dead = read_topic(bootstrap, dlq_topic, len(bad_ids), timeout=120)
        letters = [json.loads(r.value) for r in dead]
        assert {d["key"]["id"] for d in letters} == bad_ids
        assert all(d["field"] == "id_number" and "check character" in d["reason"] for d in letters)
        assert all(
            d["origin"] == cfg["name"] and d["origin_kind"] == "connector" and d["position"] for d in letters
        )
        assert dict(dead[0].headers)["civicbus.error.field"] == b"id_number"

        decode = decoder(registry_url)
        events = [decode(r.value) for r in good]
        assert {e["source"]["key"] for e in events} == {
            json.dumps({"id": str(i)}) for i in range(1, m + 1) if str(i) not in bad_ids
        }
        first = events[0]
        assert first["op"] == "r" and first["source"]["department"] == "民政"
        assert len(first["after"]["id_number"]) == 18 and first["after"]["kind"] in (
            "DIBAO",
            "TEKUN",
            "ELDERLY",
            "DISABILITY",
        )
        assert decode(good[0].key) == first["after"]["id_number"]

        # the pipeline keeps going: a row with a null key, then a good row, both accounted for
        rng = __import__("random").Random(1)
        now = dt.datetime(2027, 1, 1)
        with engine.begin() as conn:
            conn.execute(MINZHENG.insert(), [{**minzheng_row(person(rng), rng, now), "sfzh": None}])
            conn.execute(MINZHENG.insert(), [minzheng_row(person(rng), rng, now)])
        dead = read_topic(bootstrap, dlq_topic, len(bad_ids) + 1, timeout=120)
        assert "required" in json.loads(dead[-1].value)["reason"]
        read_topic(bootstrap, cfg["target"]["topic"], len(good) + 1, timeout=120)
        assert proc.poll() is None
    finally:
        stop(proc)
        engine.dispose()


def _bad_check(number: str) -> bool:
    from civicbus.schemas.standards.id_number import check_char

    return check_char(number[:17]) != number[17].upper()


def test_sigkill_mid_stream_then_restart_loses_no_row(
    tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    hukou, _, h, _ = sqlite_dbs(tmp_path, 12000, subsidy_share=0.0)
    batch = 200
    path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", hukou, batch_size=batch)
    topic = cfg["target"]["topic"]
    proc = spawn(["connectors", "run", str(path)], bus_env, logs / "c1.log")
    try:
        read_topic(bootstrap, topic, 3000, timeout=90)
    finally:
        stop(proc, signal.SIGKILL)
    killed_at = len(read_topic(bootstrap, topic, 0, timeout=10, settle=1.0))
    assert killed_at < h, "the connector finished before it was killed; the test proves nothing"
    proc = spawn(["connectors", "run", str(path)], bus_env, logs / "c2.log")
    try:
        records = read_topic(bootstrap, topic, h, timeout=120, settle=2.0)
    finally:
        stop(proc)
    decode = decoder(registry_url)
    keys = collections.Counter(json.loads(decode(r.value)["source"]["key"])["RKID"] for r in records)
    assert set(keys) == {str(i) for i in range(1, h + 1)}
    duplicates = sum(c - 1 for c in keys.values())
    assert duplicates <= batch, f"{duplicates} duplicates: more than the one unacknowledged batch"


def test_postgresql_table_through_a_url(
    tmp_path: Path,
    bus_env: dict[str, str],
    registry_url: str,
    bootstrap: str,
    logs: Path,
    postgres_url: str,
) -> None:
    schema = unique("t").replace("-", "_")
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    try:
        h, _ = generate(url, url, 300, subsidy_share=0.0)
        path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", url)
        proc = spawn(["connectors", "run", str(path)], bus_env, logs / "pg.log")
        try:
            records = read_topic(bootstrap, cfg["target"]["topic"], h, timeout=60)
            decode = decoder(registry_url)
            events = [decode(r.value) for r in records]
            assert len({e["after"]["id_number"] for e in events}) == h
            assert events[0]["source"]["database"].startswith("postgresql+psycopg://civicbus:***@")
            # GXSJ is stored without a zone: it is the source's local time (Asia/Shanghai)
            assert events[0]["source_ts_ms"] == dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
            # a row committed while the connector runs arrives too
            rng = __import__("random").Random(7)
            with sa.create_engine(url).begin() as conn:
                conn.execute(HUKOU.insert(), [{**_hukou(rng), "GXSJ": local_now()}])
            read_topic(bootstrap, cfg["target"]["topic"], h + 1, timeout=120)
        finally:
            stop(proc)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _hukou(rng: object) -> dict[str, object]:
    from civicbus.demo.generate import hukou_row

    return hukou_row(person(rng), rng, local_now())  # type: ignore[arg-type]


def test_connector_waits_for_a_missing_broker_instead_of_crashing(
    tmp_path: Path, bus_env: dict[str, str], logs: Path
) -> None:
    hukou, _, _, _ = sqlite_dbs(tmp_path, 10, subsidy_share=0.0)
    path, _ = connector_file(tmp_path, "gongan-hukou.yaml", hukou)
    env = {**bus_env, "CIVICBUS_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    proc = spawn(["connectors", "run", str(path)], env, logs / "nobroker.log")
    try:
        wait_until(
            lambda: "kafka.unavailable" in (logs / "nobroker.log").read_text(),
            30,
            "a kafka.unavailable log line",
        )
        time.sleep(1)
        assert proc.poll() is None, "the connector exited instead of waiting for the broker"
        line = next(
            json.loads(x)
            for x in (logs / "nobroker.log").read_text().splitlines()
            if "kafka.unavailable" in x
        )
        assert line["level"] == "warning" and line["retry_in_s"] > 0
        assert "Traceback" not in (logs / "nobroker.log").read_text()
    finally:
        assert stop(proc) == 0


@pytest.mark.parametrize("producer", ["confluent-kafka", "kafka-python"])
def test_at_least_once_delivery_on_either_producer_loses_nothing_across_a_restart(
    producer: str, tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    engine = create(url)
    rng = random.Random(5)

    def add(n: int) -> None:
        with engine.begin() as conn:
            conn.execute(HUKOU.insert(), [hukou_row(person(rng), rng, local_now()) for _ in range(n)])

    add(700)
    path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", url, batch_size=100)
    env = {**bus_env, "CIVICBUS_CONNECTOR_DELIVERY": "at_least_once", "CIVICBUS_CONNECTOR_PRODUCER": producer}
    proc = spawn(["connectors", "run", str(path)], env, logs / f"alo-{producer}-1.log")
    try:
        read_topic(bootstrap, cfg["target"]["topic"], 700, timeout=120)
    finally:
        assert stop(proc) == 0
    add(300)
    proc = spawn(["connectors", "run", str(path)], env, logs / f"alo-{producer}-2.log")
    try:
        records = read_topic(bootstrap, cfg["target"]["topic"], 1000, timeout=120, settle=1.0)
    finally:
        stop(proc)
    decode = decoder(registry_url)
    keys = {json.loads(decode(r.value)["source"]["key"])["RKID"] for r in records}
    assert len(keys) == 1000, "a row was lost"
    assert len(records) == 1000, "a clean stop saves its position: nothing is sent twice"
