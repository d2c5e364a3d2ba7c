"""What an integrator and an operator run: validate a connector file, read connector status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from civicbus.demo.generate import generate, write_demo

from ..helpers import ROOT, connector_file, read_topic, spawn, stop, wait_until

pytestmark = pytest.mark.integration


def civicbus(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicbus", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        cwd=ROOT,
    )


def test_validate_reports_every_problem_at_once(tmp_path: Path, postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS validate_meter"))
        conn.execute(
            sa.text("CREATE TABLE validate_meter (id serial PRIMARY KEY, bh text, ds float8, cbsj timestamp)")
        )
    good = {
        "name": "validate-meter",
        "department": "水务",
        "system": "抄表系统",
        "source": {
            "url": postgres_url,
            "table": "validate_meter",
            "mode": "incrementing",
            "incrementing_column": "id",
            "key_columns": ["id"],
        },
        "target": {"topic": "t.meter", "schema": "MeterReading", "key": "meter_id"},
        "mapping": {
            "meter_id": {"column": "bh"},
            "utility": {"const": "WATER"},
            "unit": {"const": "m³"},
            "reading": {"column": "ds"},
            "read_at": {"column": "cbsj"},
        },
    }
    bad = yaml.safe_load(yaml.safe_dump(good))
    bad["mapping"]["meter_id"] = {"column": "biaohao"}
    bad["mapping"]["colour"] = {"const": "blue"}
    del bad["mapping"]["unit"]
    bad["source"]["key_columns"] = ["uuid"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    result = civicbus("connectors", "validate", str(path), env={})
    assert result.returncode == 1
    out = result.stdout
    for expected in (
        "mapping.colour: no such field",
        "mapping.unit: required",
        "no column 'biaohao'",
        "source.key_columns: no column 'uuid'",
        "mapping.reading: column ds (DOUBLE PRECISION): a binary FLOAT column cannot feed",
    ):
        assert expected in out, out
    missing = yaml.safe_load(yaml.safe_dump(good))
    missing["source"]["table"] = "no_such_table"
    path.write_text(yaml.safe_dump(missing, allow_unicode=True), encoding="utf-8")
    assert "'no_such_table' not found" in civicbus("connectors", "validate", str(path), env={}).stdout
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE validate_meter"))
    engine.dispose()


def test_validate_accepts_the_examples(tmp_path: Path) -> None:
    """Every example reading the demo's databases; the log-based ones, which read the real
    servers, are validated in test_log_capture.py."""
    write_demo(tmp_path, 10)  # every sample department's database
    examples = sorted((ROOT / "connectors" / "examples").glob("*.yaml"))
    files = [str(p) for p in examples if "wal" not in p.stem and "binlog" not in p.stem]
    (tmp_path / "drop").mkdir()
    env = {"CIVICBUS_DEMO_DIR": str(tmp_path), "CIVICBUS_DROP_DIR": str(tmp_path / "drop")}
    result = civicbus("connectors", "validate", *files, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok") == len(files)


def test_status_shows_each_connector(
    tmp_path: Path, bus_env: dict[str, str], bootstrap: str, logs: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    h, _ = generate(url, f"sqlite:///{tmp_path / 'm.db'}", 40, subsidy_share=0.0)
    path, cfg = connector_file(tmp_path, "gongan-hukou.yaml", url)
    env = {**bus_env, "CIVICBUS_CONNECTOR_STATUS_TOPIC": f"{cfg['name']}-status"}
    proc = spawn(["connectors", "run", str(path)], env, logs / "c.log")
    try:
        read_topic(bootstrap, cfg["target"]["topic"], h)

        def running() -> str | None:
            out = civicbus("connectors", "status", env=env).stdout
            line = next((x for x in out.splitlines() if cfg["name"] in x), "")
            return line if "RUNNING" in line and line.split()[2] == str(h) else None

        line = wait_until(running, 120, "a RUNNING status with every row", interval=1)
        assert line.split()[5] == "0" and line.split()[6] == "0", line  # no dead letters, no errors
    finally:
        assert stop(proc) == 0
    out = civicbus("connectors", "status", env=env).stdout
    assert "STOPPED" in next(x for x in out.splitlines() if cfg["name"] in x)


def test_a_new_postgresql_table_joins_a_running_deployment_with_one_yaml_file(
    tmp_path: Path,
    bus_env: dict[str, str],
    bootstrap: str,
    registry_url: str,
    logs: Path,
    postgres_url: str,
) -> None:
    from ..helpers import decoder, unique

    deployment = tmp_path / "connectors.d"
    deployment.mkdir()
    proc = spawn(["connectors", "run", "--watch", str(deployment)], bus_env, logs / "watch.log")
    table = unique("jgxx").replace("-", "_")
    engine = sa.create_engine(postgres_url)
    try:
        wait_until(lambda: proc.poll() is None and (logs / "watch.log").exists(), 60, "the watcher")
        # an invalid file is reported with its problems and stops nothing
        (deployment / "broken.yaml").write_text("name: Broken\n", encoding="utf-8")
        wait_until(lambda: "connector.invalid" in (logs / "watch.log").read_text(), 120, "the complaint")
        assert proc.poll() is None
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {table} (id serial PRIMARY KEY, tyshxydm text, jgmc text)"))
            conn.execute(
                sa.text(
                    f"INSERT INTO {table} (tyshxydm, jgmc) VALUES ('91110000600037341L', '某某科技有限公司')"
                )
            )
        topic = unique("civicbus.scjg.entity")
        new = {
            "name": unique("scjg"),
            "department": "市场监管",
            "system": "企业登记系统",
            "source": {
                "url": postgres_url,
                "table": table,
                "mode": "incrementing",
                "incrementing_column": "id",
                "key_columns": ["id"],
            },
            "target": {"topic": topic, "schema": "LegalEntity", "key": "credit_code"},
            "mapping": {
                "credit_code": {"column": "tyshxydm", "transform": "uscc"},
                "name": {"column": "jgmc"},
                "entity_type": {"const": "91"},
                "status": {"const": "ACTIVE"},
            },
        }
        (deployment / "scjg.yaml").write_text(yaml.safe_dump(new, allow_unicode=True), encoding="utf-8")
        record = read_topic(bootstrap, topic, 1, timeout=60)[0]
        assert decoder(registry_url)(record.value)["after"]["name"] == "某某科技有限公司"
    finally:
        assert stop(proc) == 0
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_the_database_password_never_reaches_logs_events_or_dead_letters(
    tmp_path: Path,
    bus_env: dict[str, str],
    bootstrap: str,
    registry_url: str,
    logs: Path,
    postgres_url: str,
) -> None:
    import json as _json

    from ..helpers import decoder, unique

    secret = "civicbus"
    assert f":{secret}@" in postgres_url
    table = unique("mm").replace("-", "_")
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id serial PRIMARY KEY, tyshxydm text, jgmc text)"))
        conn.execute(
            sa.text(
                f"INSERT INTO {table} (tyshxydm, jgmc) VALUES "
                "('91110000600037341L', '甲'), ('91110000600037341X', '乙')"
            )
        )
    topic = unique("secret")
    cfg = {
        "name": unique("secret"),
        "department": "d",
        "system": "s",
        "source": {
            "url": "postgresql+psycopg://civicbus:${PG_PASSWORD}@127.0.0.1:54329/civicbus",
            "table": table,
            "mode": "incrementing",
            "incrementing_column": "id",
            "key_columns": ["id"],
        },
        "target": {"topic": topic, "schema": "LegalEntity", "key": "credit_code"},
        "mapping": {
            "credit_code": {"column": "tyshxydm", "transform": "uscc"},
            "name": {"column": "jgmc"},
            "entity_type": {"const": "91"},
            "status": {"const": "ACTIVE"},
        },
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    env = {**bus_env, "PG_PASSWORD": secret, "CIVICBUS_LOG_LEVEL": "DEBUG"}
    proc = spawn(["connectors", "run", str(path)], env, logs / "c.log")
    try:
        event = decoder(registry_url)(read_topic(bootstrap, topic, 1)[0].value)
        letter = _json.loads(read_topic(bootstrap, f"civicbus.deadletter.{cfg['name']}", 1)[0].value)
    finally:
        stop(proc)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()
    assert event["source"]["database"] == "postgresql+psycopg://civicbus:***@127.0.0.1:54329/civicbus"
    assert letter["source"]["database"].endswith(":***@127.0.0.1:54329/civicbus")
    assert f":{secret}@" not in (logs / "c.log").read_text()
