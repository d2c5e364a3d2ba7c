from pathlib import Path

import pytest

from civicbus.connectors.config import ConfigError
from civicbus.connectors.config import load as load_connector
from civicbus.connectors.sql.settings import SqlSettings
from civicbus.core.settings import SettingsError, load
from civicbus.registry.settings import RegistrySettings

from ..helpers import EXAMPLES


def test_bad_setting_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICBUS_REGISTRY_PORT", "99999")
    monkeypatch.setenv("CIVICBUS_BOOTSTRAP_SERVERS", "no-port")
    with pytest.raises(SettingsError) as err:
        load(RegistrySettings)
    assert "CIVICBUS_REGISTRY_PORT" in str(err.value)
    assert "CIVICBUS_BOOTSTRAP_SERVERS" in str(err.value)


def test_example_connectors_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICBUS_DEMO_DIR", "/tmp")
    monkeypatch.setenv("CIVICBUS_DROP_DIR", "/tmp/drop")
    loaded = {path.name: load_connector(path) for path in EXAMPLES.glob("*.yaml")}
    assert {c.source.type for c in loaded.values()} == {"sql", "spreadsheet", "pgoutput", "binlog"}
    for cfg in loaded.values():
        if isinstance(cfg.source, SqlSettings):
            assert cfg.source.url.get_secret_value().startswith("sqlite:////tmp/")


def test_unknown_source_type_names_the_known_ones(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text(
        "name: x\ndepartment: d\nsystem: s\nsource: {type: ftp}\n"
        "target: {topic: t, schema: Resident, key: id_number}\nmapping: {}\n"
    )
    with pytest.raises(
        ConfigError, match="unknown source type 'ftp'; known: binlog, pgoutput, spreadsheet, sql"
    ):
        load_connector(bad)


def test_a_log_source_of_another_database_names_its_url(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text(
        "name: x\ndepartment: d\nsystem: s\n"
        "source: {type: pgoutput, url: 'mysql+pymysql://u:secret@h/db', table: t, key_columns: [id]}\n"
        "target: {topic: t, schema: Resident, key: id_number}\nmapping: {}\n"
    )
    with pytest.raises(ConfigError, match=r"source\.url: .*reads PostgreSQL.*'mysql\+pymysql'") as err:
        load_connector(bad)
    assert "secret" not in str(err.value)


def test_connector_file_errors_list_every_problem(tmp_path: pytest.TempPathFactory) -> None:
    bad = tmp_path / "bad.yaml"  # type: ignore[operator]
    bad.write_text(
        "name: Bad Name\ndepartment: x\nsystem: y\nsource: {url: 'sqlite://', table: t, "
        "mode: timestamp, key_columns: [id]}\ntarget: {topic: t, schema: Resident, key: k}\n"
        "mapping: {name: {column: a, const: b}}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_connector(bad)
    text = str(err.value)
    assert "name: String should match pattern" in text
    assert "needs timestamp_column" in text
    assert "exactly one of 'column' or 'const'" in text


def test_missing_environment_variable_is_named(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CIVICBUS_DEMO_DIR", raising=False)
    with pytest.raises(ConfigError, match="CIVICBUS_DEMO_DIR is not set"):
        load_connector(EXAMPLES / "gongan-hukou.yaml")


def test_a_streams_worker_runs_one_engine_process_per_usable_cpu_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from civicbus.streams.settings import StreamsSettings, usable_cpus

    assert load(StreamsSettings).processes == usable_cpus() >= 1
    monkeypatch.setenv("CIVICBUS_STREAMS_PROCESSES", "3")
    assert load(StreamsSettings).processes == 3
    monkeypatch.setenv("CIVICBUS_STREAMS_PROCESSES", "0")
    with pytest.raises(SettingsError) as err:
        load(StreamsSettings)
    assert "CIVICBUS_STREAMS_PROCESSES" in str(err.value)


def test_the_cpus_a_worker_may_use_follow_its_cgroup_quota(tmp_path: Path) -> None:
    from civicbus.streams.settings import usable_cpus

    cpu_max = tmp_path / "cpu.max"
    unlimited = usable_cpus(tmp_path / "absent")
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == unlimited
    cpu_max.write_text("150000 100000\n")  # --cpus 1.5: two processes, one of them part-time
    assert usable_cpus(cpu_max) == min(2, unlimited)
    cpu_max.write_text("50000 100000\n")
    assert usable_cpus(cpu_max) == 1
