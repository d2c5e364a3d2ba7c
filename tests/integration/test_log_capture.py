"""What only log-based capture can do, on the real servers: every change with its before image
and transaction, a database restart mid-stream, and a table snapshotted again while written."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from civicbus.core.deadletter import DeadLetter
from civicbus.demo.generate import HUKOU, create, hukou_row, local_now, person

from ..helpers import (
    answers,
    connector_file,
    decoder,
    fresh_database,
    fresh_mariadb,
    read_topic,
    spawn,
    stop,
    wait_until,
)

pytestmark = pytest.mark.integration


@dataclass
class LogTable:
    """A household table on a real server, a connector file capturing it from the log, and the
    server's own restart."""

    path: Path
    cfg: dict[str, Any]
    writer: sa.Engine
    restart: Callable[[], None]


def _restart_postgres() -> None:
    version = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))[-1].name
    subprocess.run(["pg_ctlcluster", version, "civicbus", "restart", "-m", "fast"], check=True, timeout=120)


@contextmanager
def pg_table(tmp: Path, postgres_url: str) -> Iterator[LogTable]:
    with fresh_database(postgres_url) as db:
        create(db.reader_url).dispose()
        db.logs_changes("T_HJ_RKXX")
        path, cfg = connector_file(
            tmp, "gongan-hukou-wal.yaml", db.reader_url, batch_size=200, source__slot=db.name
        )
        yield LogTable(path, cfg, db.writer, _restart_postgres)


def _restart_mariadb() -> None:
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        ["mariadb-admin", "--socket=/var/lib/civicbus-mariadb/mysqld.sock", "shutdown"],
        check=True,
        timeout=120,
    )
    subprocess.run(["bash", str(root / "ops/local/mariadb.sh")], check=True, timeout=120, capture_output=True)


@contextmanager
def binlog_table(tmp: Path, mariadb_url: str) -> Iterator[LogTable]:
    with fresh_mariadb(mariadb_url) as db:
        create(db.reader_url).dispose()
        path, cfg = connector_file(
            tmp,
            "gongan-hukou-binlog.yaml",
            db.reader_url,
            batch_size=200,
            source__server_id=random.randint(10**4, 2**31),
        )
        yield LogTable(path, cfg, db.writer, _restart_mariadb)


TABLES = {"pgoutput": pg_table, "binlog": binlog_table}


@pytest.fixture(params=sorted(TABLES))
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogTable]:
    url = request.getfixturevalue("postgres_url" if request.param == "pgoutput" else "mariadb_url")
    with TABLES[request.param](tmp_path, url) as made:
        yield made


def _add(table: LogTable, rng: random.Random, n: int) -> None:
    rows = [hukou_row(person(rng), rng, local_now()) for _ in range(n)]
    with table.writer.begin() as conn:
        conn.execute(HUKOU.insert(), rows)


def _events(
    bootstrap: str, registry_url: str, table: LogTable, count: int, timeout: float = 120
) -> list[dict[str, Any]]:
    decode = decoder(registry_url)
    records = read_topic(bootstrap, table.cfg["target"]["topic"], count, timeout=timeout, settle=1.0)
    return [decode(r.value) for r in records]


def _rkid(event: dict[str, Any]) -> int:
    return int(json.loads(event["source"]["key"])["RKID"])


def test_changes_carry_their_before_image_and_transaction(
    table: LogTable, bus_env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    rng = random.Random(11)
    _add(table, rng, 3)
    proc = spawn(["connectors", "run", str(table.path)], bus_env, logs / "log-changes.log")
    try:
        _events(bootstrap, registry_url, table, 3)
        with table.writer.begin() as conn:  # one transaction: an update and a delete
            conn.execute(sa.update(HUKOU).where(HUKOU.c.RKID == 1).values(XM="改名"))
            conn.execute(sa.delete(HUKOU).where(HUKOU.c.RKID == 2))
        _add(table, rng, 1)
        events = _events(bootstrap, registry_url, table, 6)
    finally:
        stop(proc)
    ops = Counter(e["op"] for e in events)
    assert ops == {"r": 3, "u": 1, "d": 1, "c": 1}, ops
    update = next(e for e in events if e["op"] == "u")
    delete = next(e for e in events if e["op"] == "d")
    assert update["after"]["name"] == "改名" and update["before"]["name"] not in (None, "改名")
    assert delete["after"] is None and _rkid(delete) == 2 and delete["before"]["id_number"]
    assert update["transaction"]["id"] == delete["transaction"]["id"]
    assert [update["transaction"]["order"], delete["transaction"]["order"]] == [1, 2]
    created = next(e for e in events if e["op"] == "c")
    assert created["transaction"]["id"] != update["transaction"]["id"]
    assert all(e["source_ts_ms"] for e in events if e["op"] != "r")


def test_a_database_restart_mid_stream_loses_and_repeats_nothing(
    table: LogTable, bus_env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    rng = random.Random(12)
    _add(table, rng, 500)
    log = logs / "log-restart.log"
    proc = spawn(["connectors", "run", str(table.path)], bus_env, log)
    try:
        _events(bootstrap, registry_url, table, 500)
        for _ in range(10):
            _add(table, rng, 100)
        table.restart()
        wait_until(lambda: answers(table.writer), 120, "the database back")
        wait_until(lambda: "source.read_failed" in log.read_text(), 120, "the restart noticed")
        for _ in range(5):
            _add(table, rng, 100)
        events = _events(bootstrap, registry_url, table, 2000)
        assert proc.poll() is None
    finally:
        stop(proc)
    keys = Counter(_rkid(e) for e in events)
    assert len(keys) == 2000, "a row was lost"
    assert max(keys.values()) == 1, f"rows repeated: {[k for k, n in keys.items() if n > 1][:10]}"


ROWS = 1500
"""The table snapshotted again while written."""


def test_a_table_snapshotted_again_while_written_ends_as_the_table_is(
    table: LogTable, bus_env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    rng = random.Random(13)
    _add(table, rng, ROWS)
    log = logs / "log-resnapshot.log"
    proc = spawn(["connectors", "run", str(table.path)], bus_env, log)
    done = threading.Event()
    written = Counter[str]()

    def write() -> None:  # updates and inserts all through the re-snapshot
        n = 0
        while not done.is_set():
            n += 1
            with table.writer.begin() as conn:
                for rkid in rng.sample(range(1, ROWS + 1), 5):
                    conn.execute(sa.update(HUKOU).where(rkid == HUKOU.c.RKID).values(XM=f"改{n}"))
                    written["u"] += 1
                conn.execute(HUKOU.insert(), [hukou_row(person(rng), rng, local_now())])
                written["c"] += 1

    writer = threading.Thread(target=write)
    try:
        _events(bootstrap, registry_url, table, ROWS)
        writer.start()
        subprocess.run(
            [sys.executable, "-m", "civicbus", "connectors", "snapshot", str(table.path)],
            env={**os.environ, **bus_env},
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_until(lambda: "signal.accepted" in log.read_text(), 60, "the signal taken")
        wait_until(lambda: log.read_text().count("source.snapshot_done") >= 2, 300, "the re-snapshot done")
        done.set()
        writer.join()
        with table.writer.connect() as conn:
            now = {int(r.RKID): r.XM for r in conn.execute(sa.select(HUKOU.c.RKID, HUKOU.c.XM))}
        expected = ROWS + ROWS + written["u"] + written["c"]  # at least: snapshot, re-snapshot, changes
        events = _events(bootstrap, registry_url, table, expected - ROWS - 100, timeout=180)
        assert proc.poll() is None
    finally:
        done.set()
        if writer.is_alive():
            writer.join()
        stop(proc)
    last: dict[int, dict[str, Any]] = {}
    for e in events:  # one key, one partition: topic order is the key's order
        last[_rkid(e)] = e
    assert set(last) == set(now), "every row of the table, and only those, has events"
    stale = {
        k: (last[k]["after"]["name"], v) for k, v in now.items() if last[k]["after"]["name"] != v.strip()
    }
    assert not stale, f"an older state overwrote a newer one: {list(stale.items())[:5]}"
    reads = Counter(_rkid(e) for e in events if e["op"] == "r")
    assert max(reads.values()) == 2, "each row read at most once by each snapshot"
    # a row a change touched inside its chunk's window comes from the log instead: under this
    # writer (five updates a transaction, back to back) that is a share of them, never most
    assert sum(1 for n in reads.values() if n == 2) > ROWS // 2, "the re-snapshot read the table again"


def test_a_truncate_is_dead_lettered_with_the_way_out_and_capture_goes_on(
    table: LogTable, bus_env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    rng = random.Random(14)
    _add(table, rng, 2)
    proc = spawn(["connectors", "run", str(table.path)], bus_env, logs / "log-truncate.log")
    try:
        _events(bootstrap, registry_url, table, 2)
        with table.writer.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE TABLE {conn.dialect.identifier_preparer.quote('T_HJ_RKXX')}"))
        _add(table, rng, 1)
        dead = read_topic(bootstrap, f"civicbus.deadletter.{table.cfg['name']}", 1, timeout=60)
        events = _events(bootstrap, registry_url, table, 3)
        assert proc.poll() is None
    finally:
        stop(proc)
    letter = DeadLetter.decode(dead[0].value)
    assert "truncated" in letter.reason and "snapshot" in letter.reason
    assert [e["op"] for e in events].count("c") == 1


def _validate(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicbus", "connectors", "validate", str(path)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_accepts_a_capturable_table_and_names_what_a_table_lacks(
    table: LogTable, bus_env: dict[str, str]
) -> None:
    ok = _validate(table.path, bus_env)
    assert ok.returncode == 0 and ": ok" in ok.stdout, ok.stdout + ok.stderr
    cfg = {**table.cfg, "source": {**table.cfg["source"], "key_columns": ["NO_SUCH_KEY"]}}
    bad = table.path.with_name("bad.yaml")
    bad.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    found = _validate(bad, bus_env)
    assert found.returncode == 1 and "NO_SUCH_KEY" in found.stdout, found.stdout + found.stderr
