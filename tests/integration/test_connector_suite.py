"""Every built-in connector type passes the standard suite (tests/connector_suite.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from civicbus.core.deadletter import DeadLetter
from civicbus.demo.generate import HUKOU, create, hukou_row, local_now, person

from .. import connector_suite as suite
from ..helpers import EXAMPLES, connector_file, fresh_database, fresh_mariadb, unique

pytestmark = pytest.mark.integration
ROSTER = ["身份证号", "姓名", "性别", "出生日期", "民族", "现住址"]


def sql_harness(tmp: Path, request: pytest.FixtureRequest) -> Iterator[suite.Harness]:
    """A household-registration table in a database of its own on the real PostgreSQL server,
    read by a role of its own: an outage is that role refused and its sessions ended."""
    yield from _hukou_harness(tmp, request, "gongan-hukou.yaml")


def pgoutput_harness(tmp: Path, request: pytest.FixtureRequest) -> Iterator[suite.Harness]:
    """The same table captured from the WAL: the role may replicate, the table logs whole rows,
    the slot is the database's own (dropped with it)."""
    yield from _hukou_harness(tmp, request, "gongan-hukou-wal.yaml", wal=True)


def binlog_harness(tmp: Path, request: pytest.FixtureRequest) -> Iterator[suite.Harness]:
    """The same table on the real MariaDB server, captured from its binlog by a user of its own:
    an outage is that user locked and its sessions (the binlog's too) killed."""
    with fresh_mariadb(str(request.getfixturevalue("mariadb_url"))) as db:
        path, cfg = connector_file(
            tmp,
            "gongan-hukou-binlog.yaml",
            db.reader_url,
            batch_size=100,
            source__server_id=random.randint(10**4, 2**31),
        )
        yield from _hukou_rows(db, path, cfg)


def _hukou_harness(
    tmp: Path, request: pytest.FixtureRequest, example: str, wal: bool = False
) -> Iterator[suite.Harness]:
    with fresh_database(str(request.getfixturevalue("postgres_url"))) as db:
        create(db.reader_url).dispose()  # the table first: the WAL harness alters it
        extra: dict[str, Any] = {}
        if wal:
            db.logs_changes("T_HJ_RKXX")
            extra["source__slot"] = db.name
        path, cfg = connector_file(tmp, example, db.reader_url, batch_size=100, **extra)
        yield from _hukou_rows(db, path, cfg)


def _hukou_rows(db: Any, path: Path, cfg: dict[str, Any]) -> Iterator[suite.Harness]:
    """The harness of a household table in ``db`` (its writer adds rows, its refusal is the outage)."""
    create(db.reader_url).dispose()
    rng = random.Random(3)

    def add(n: int) -> None:
        rows = [hukou_row(person(rng), rng, local_now()) for _ in range(n)]
        with db.writer.begin() as conn:
            conn.execute(HUKOU.insert(), rows)

    def add_bad() -> Callable[[DeadLetter], bool]:
        row = hukou_row(person(rng), rng, local_now())
        row["GMSFHM"] = "11010519491231002Y"  # no check character is Y
        with db.writer.begin() as conn:
            rkid = conn.execute(HUKOU.insert(), [row]).inserted_primary_key[0]
        return lambda letter: letter.key == {"RKID": str(rkid)} and letter.field == "id_number"

    def source_key(event: dict[str, Any]) -> str:
        return str(json.loads(event["source"]["key"])["RKID"])

    yield suite.Harness(path, cfg, add, source_key, db.refused, add_bad)


def spreadsheet_harness(tmp: Path, request: pytest.FixtureRequest) -> Iterator[suite.Harness]:
    """A drop folder of XLSX ledgers; an outage is the folder gone (an unmounted share)."""
    folder = tmp / "drop"
    folder.mkdir()
    rng = random.Random(4)
    cfg = yaml.safe_load((EXAMPLES / "shequ-huamingce.yaml").read_text(encoding="utf-8"))
    cfg["name"] = unique("roster")
    cfg["source"]["folder"] = str(folder)
    cfg["target"]["topic"] = unique("roster")
    cfg["poll_interval_s"] = 0.2
    cfg["batch_size"] = 100
    path = tmp / "roster.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    files = iter(range(1000))

    def add(n: int) -> None:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(ROSTER)
        for _ in range(n):
            p = person(rng)
            sheet.append(
                [
                    p.id_number,
                    p.name,
                    "男" if p.gender == "1" else "女",
                    dt.datetime.combine(p.birth, dt.time()),
                    "汉族",
                    p.address,
                ]
            )
        book.save(folder / f"ledger-{next(files):03d}.xlsx")

    @contextmanager
    def outage() -> Iterator[None]:
        away = folder.with_name("drop-unmounted")
        folder.rename(away)
        try:
            yield
        finally:
            away.rename(folder)

    def add_bad() -> Callable[[DeadLetter], bool]:
        bad = f"ledger-{next(files):03d}.xlsx"
        (folder / bad).write_bytes(b"PK\x03\x04 a workbook cut short by a USB stick pulled out")
        return lambda letter: letter.key == {"__file__": bad} and "not a readable workbook" in letter.reason

    yield suite.Harness(path, cfg, add, lambda e: e["source"]["key"], outage, add_bad)


HARNESSES: dict[str, Callable[[Path, pytest.FixtureRequest], Iterator[suite.Harness]]] = {
    "sql": sql_harness,
    "pgoutput": pgoutput_harness,
    "binlog": binlog_harness,
    "spreadsheet": spreadsheet_harness,
}
CHECKS = [
    suite.schema_is_canonical_and_records_keyed,
    suite.restart_resumes_without_loss_or_repeat,
    suite.position_only_after_delivery_survives_sigkill,
    suite.outage_is_retried,
    suite.malformed_input_is_dead_lettered_and_the_connector_keeps_going,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", sorted(HARNESSES))
def test_connector_type_passes_the_standard_suite(
    kind: str,
    check: Callable[..., None],
    tmp_path: Path,
    bus_env: dict[str, str],
    bootstrap: str,
    registry_url: str,
    logs: Path,
    request: pytest.FixtureRequest,
) -> None:
    with contextmanager(HARNESSES[kind])(tmp_path, request) as harness:
        check(harness, bus_env, bootstrap, registry_url, logs)


def test_spreadsheet_bad_row_dead_letters_with_file_and_row(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    bus_env: dict[str, str],
    bootstrap: str,
    logs: Path,
    registry_url: str,
) -> None:
    from ..helpers import read_topic, spawn, stop

    h = next(spreadsheet_harness(tmp_path, request))
    (Path(h.cfg["source"]["folder"]) / "manual.csv").write_bytes(
        (
            "\ufeff" + ",".join(ROSTER) + "\n11010519491231002X,王芳,女,1949-12-31,汉,朝阳区\n"
            "110105194912310021,李四,男,1949/12/31,汉,朝阳区\n"
            "11010519491231002X,王芳,女,1949年12月31日,火星族,朝阳区\n"
        ).encode("utf-8")
    )
    proc = spawn(["connectors", "run", str(h.path)], bus_env, logs / "c.log")
    try:
        good = read_topic(bootstrap, h.cfg["target"]["topic"], 2)
        dead = read_topic(bootstrap, f"civicbus.deadletter.{h.cfg['name']}", 1)
    finally:
        stop(proc)
    letter: dict[str, Any] = json.loads(dead[0].value)
    assert letter["key"] == {"__file__": "manual.csv", "__row__": "3"}
    assert letter["field"] == "id_number" and "check character" in letter["reason"]
    from ..helpers import decoder

    flagged = decoder(registry_url)(good[-1].value)
    assert flagged["after"]["ethnicity_code"] is None
    assert flagged["quality"] == ["ethnicity_code: unknown ethnicity '火星族'"]
