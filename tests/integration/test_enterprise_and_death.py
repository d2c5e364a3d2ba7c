"""More departments' data through connectors into the shipped views, in one worker: the
enterprise view (一企一档: 市场监管 registrations and 应急管理 inspections by credit code), and the
resident view with 卫健 death registrations closing profiles, 残联 disability certificates and
人社 pension insurance. The records decode with confluent-kafka's AvroDeserializer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from civicbus.demo.generate import (
    CANLIAN,
    HUKOU,
    RENSHE,
    SCJG,
    WEIJIAN,
    YINGJI,
    generate,
    generate_enterprises,
)
from civicbus.schemas.standards import id_number, uscc

from ..helpers import VIEWS, connector_file, read_topic, spawn, stop, unique, view_state, wait_until

pytestmark = pytest.mark.integration


def rows(url: str, table: sa.Table) -> list[Any]:
    with sa.create_engine(url).connect() as conn:
        return list(conn.execute(sa.select(table)))


def copy_view(folder: Path, name: str, topics: list[str]) -> str:
    """A copy of a shipped view with its own name, topics and sources' topics; its view topic."""
    spec = yaml.safe_load((VIEWS / f"{name}.yaml").read_text(encoding="utf-8"))
    spec |= {"name": unique(name).lower(), "topic": unique("view"), "dead_letters": unique("dlq")}
    for source, topic in zip(spec["sources"], topics, strict=True):
        source["topic"] = topic
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return str(spec["topic"])


def test_enterprises_join_their_inspections_and_residents_their_deaths_disabilities_and_pensions(
    tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    names = ("hukou", "minzheng", "weijian", "canlian", "renshe", "scjg", "yingji")
    db = {name: f"sqlite:///{tmp_path / name}.db" for name in names}
    generate(
        db["hukou"],
        db["minzheng"],
        600,
        bad_rate=0.0,
        weijian_url=db["weijian"],
        canlian_url=db["canlian"],
        renshe_url=db["renshe"],
    )
    generate_enterprises(db["scjg"], db["yingji"], 150)
    files = {}
    for example, name in (
        ("gongan-hukou.yaml", "hukou"),
        ("weijian-death.yaml", "weijian"),
        ("canlian-disability.yaml", "canlian"),
        ("renshe-pension.yaml", "renshe"),
        ("scjg-enterprise.yaml", "scjg"),
        ("yingji-inspection.yaml", "yingji"),
    ):
        files[name] = connector_file(tmp_path, example, db[name])
    topic = {name: cfg["target"]["topic"] for name, (_, cfg) in files.items()}
    views = tmp_path / "views"
    views.mkdir()
    enterprise_view = copy_view(views, "enterprise", [topic["scjg"], topic["yingji"]])
    resident_view = copy_view(
        views,
        "resident-profile",
        [topic["hukou"], unique("subsidy"), topic["weijian"], topic["canlian"], topic["renshe"]],
    )
    env = {
        **bus_env,
        "CIVICBUS_STREAMS_APP_ID": unique("streams"),
        "CIVICBUS_STREAMS_VIEWS_DIR": str(views),
        "CIVICBUS_STREAMS_DATA_DIR": str(tmp_path / "streams"),
        "CIVICBUS_STREAMS_PROCESSES": "2",  # the views' partitions spread over two engine processes
    }
    registered = {r.TYSHXYDM for r in rows(db["scjg"], SCJG)}
    inspections = Counter(uscc.normalize(r.xydm) for r in rows(db["yingji"], YINGJI))
    dead = {r.SFZH for r in rows(db["weijian"], WEIJIAN)}
    certificates = Counter(r.SFZH for r in rows(db["canlian"], CANLIAN))
    insured = {id_number.normalize(r.sfzh): r.cbzt for r in rows(db["renshe"], RENSHE)}
    residents = {r.GMSFHM for r in rows(db["hukou"], HUKOU)}
    assert dead and dead <= residents and inspections

    procs = [
        spawn(["connectors", "run", str(path)], env, logs / f"{n}.log") for n, (path, _) in files.items()
    ]
    procs.append(spawn(["streams", "worker"], env, logs / "streams.log"))
    try:

        def enterprises_complete() -> bool:
            state = view_state(bootstrap, registry_url, enterprise_view)
            return set(state) == registered | set(inspections) and all(
                p["inspection_count"] == inspections[k] for k, p in state.items()
            )

        def deaths_complete() -> bool:
            state = view_state(bootstrap, registry_url, resident_view)
            return set(state) == residents and all(
                p["closed"] == (k in dead)
                and len(p["disabilities"]) == certificates[k]
                and (p["pension"] is not None) == (k in insured)
                for k, p in state.items()
            )

        wait_until(enterprises_complete, 120, "every enterprise with its inspections", interval=1)
        wait_until(deaths_complete, 120, "every death, certificate and pension in its profile", interval=1)
    finally:
        for proc in procs:
            stop(proc)

    client = SchemaRegistryClient({"url": registry_url})
    values, keys = AvroDeserializer(client), AvroDeserializer(client)

    def decoded(view: str, count: int) -> dict[str, Any]:
        out = {}
        for rec in read_topic(bootstrap, view, count, timeout=30, settle=1):
            out[keys(rec.key, SerializationContext(view, MessageField.KEY))] = values(
                rec.value, SerializationContext(view, MessageField.VALUE)
            )
        return out

    firms = decoded(enterprise_view, len(registered))
    for code, firm in firms.items():
        results = [i["result"] for i in firm["inspections"]]
        assert firm["needs_follow_up"] == any(r != "PASSED" for r in results)
        assert (firm["registration"] is not None) == (code in registered)
    assert any(f["needs_follow_up"] for f in firms.values())
    people = decoded(resident_view, len(residents))
    for person in dead:
        profile = people[person]
        assert profile["closed_by"] == "卫健" and profile["death"]["id_number"] == person
    status = {
        "参保缴费": "CONTRIBUTING",
        "暂停缴费": "SUSPENDED",
        "待遇领取": "RECEIVING",
        "终止参保": "TERMINATED",
    }
    for person, state in insured.items():
        assert people[person]["pension"]["status"] == status[state]
    assert any(d["grade"] == 1 for p in people.values() for d in p["disabilities"])
