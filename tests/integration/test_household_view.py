"""The household view (一户一档) in a worker: registrations keyed by ID number, re-keyed by
household number through the worker's repartition topic, and 民政 subsidies and 残联
certificates following their holder's registration into the household; a resident who moves
household leaves the old one with their subsidies; the records decode with confluent-kafka's
AvroDeserializer."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from civicbus.demo.generate import CANLIAN, HUKOU, MINZHENG, generate, local_now
from civicbus.schemas.standards import id_number
from civicbus.streams.views.catalog import shipped

from ..helpers import connector_file, read_topic, spawn, stop, unique, view_state, wait_until

pytestmark = pytest.mark.integration


def heads(url: str) -> dict[str, str]:
    with sa.create_engine(url).connect() as conn:
        return {r.HH: r.GMSFHM for r in conn.execute(sa.select(HUKOU).where(HUKOU.c.YHZGX == "户主"))}


def expected_households(hukou_url: str, minzheng_url: str, canlian_url: str) -> dict[str, Any]:
    """Household → (members, their subsidies' ids, their certificates' numbers), from the databases."""
    where: dict[str, str] = {}
    with sa.create_engine(hukou_url).connect() as conn:
        for row in conn.execute(sa.select(HUKOU.c.GMSFHM, HUKOU.c.HH)):
            where[row.GMSFHM] = row.HH
    found: dict[str, Any] = defaultdict(lambda: (set(), set(), set()))
    for person, household in where.items():
        found[household][0].add(person)
    with sa.create_engine(minzheng_url).connect() as conn:
        for row in conn.execute(sa.select(MINZHENG.c.id, MINZHENG.c.sfzh)):
            holder = id_number.normalize(row.sfzh)
            if holder in where:
                found[where[holder]][1].add(str(row.id))
    with sa.create_engine(canlian_url).connect() as conn:
        for row in conn.execute(sa.select(CANLIAN.c.CJZH, CANLIAN.c.SFZH)):
            if row.SFZH in where:
                found[where[row.SFZH]][2].add(row.CJZH)
    return dict(found)


def test_members_subsidies_and_certificates_gather_by_household_and_move_with_a_member(
    tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    db = {name: f"sqlite:///{tmp_path / name}.db" for name in ("hukou", "minzheng", "canlian")}
    generate(db["hukou"], db["minzheng"], 300, bad_rate=0.0, canlian_url=db["canlian"])
    files = {
        name: connector_file(tmp_path, example, db[name])
        for name, example in (
            ("hukou", "gongan-hukou.yaml"),
            ("minzheng", "minzheng-subsidy.yaml"),
            ("canlian", "canlian-disability.yaml"),
        )
    }
    views = tmp_path / "views"
    views.mkdir()
    spec = yaml.safe_load((shipped() / "household.yaml").read_text(encoding="utf-8"))
    spec |= {"name": unique("household").lower(), "topic": unique("view"), "dead_letters": unique("dlq")}
    for source, name in zip(spec["sources"], ("hukou", "minzheng", "canlian"), strict=True):
        source["topic"] = files[name][1]["target"]["topic"]
    (views / "household.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    env = {
        **bus_env,
        "CIVICBUS_STREAMS_APP_ID": unique("streams"),
        "CIVICBUS_STREAMS_VIEWS_DIR": str(views),
        "CIVICBUS_STREAMS_DATA_DIR": str(tmp_path / "streams"),
        "CIVICBUS_STREAMS_PROCESSES": "2",  # the views' partitions spread over two engine processes
    }
    view = spec["topic"]

    def gathered() -> dict[str, Any]:
        return {
            k: (
                {m["id_number"] for m in p["members"]},
                {s["subsidy_id"] for s in p["subsidies"]},
                {d["certificate_no"] for d in p["disabilities"]},
            )
            for k, p in view_state(bootstrap, registry_url, view).items()
        }

    procs = [
        spawn(["connectors", "run", str(path)], env, logs / f"{n}.log") for n, (path, _) in files.items()
    ]
    procs.append(spawn(["streams", "worker"], env, logs / "streams.log"))
    try:
        expected = expected_households(db["hukou"], db["minzheng"], db["canlian"])
        assert any(len(m) > 1 for m, _, _ in expected.values()), "several people share a household"
        assert any(s for _, s, _ in expected.values()) and any(c for _, _, c in expected.values())
        wait_until(lambda: gathered() == expected, 120, "every household with its members' rows", interval=1)

        # move a subsidy holder from a household of several into another one: their subsidies go along
        mover_from, mover = next(
            (h, person)
            for h, (people, subs, _) in sorted(expected.items())
            if len(people) > 1 and subs
            for person in sorted(people)
        )
        mover_to = next(h for h in sorted(expected) if h != mover_from)
        with sa.create_engine(db["hukou"]).begin() as conn:
            conn.execute(HUKOU.update().where(mover == HUKOU.c.GMSFHM).values(HH=mover_to, GXSJ=local_now()))
        moved = expected_households(db["hukou"], db["minzheng"], db["canlian"])
        assert mover in moved[mover_to][0] and mover not in moved[mover_from][0]
        wait_until(lambda: gathered() == moved, 120, "the move in both households", interval=0.5)
    finally:
        for proc in procs:
            stop(proc)

    client = SchemaRegistryClient({"url": registry_url})
    values, keys = AvroDeserializer(client), AvroDeserializer(client)
    profiles = {}
    for rec in read_topic(bootstrap, view, len(moved), timeout=30, settle=1):
        key = keys(rec.key, SerializationContext(view, MessageField.KEY))
        profiles[key] = values(rec.value, SerializationContext(view, MessageField.VALUE))
    head = heads(db["hukou"])
    assert len(head) > len(moved) / 2, "most households have their head registered here"
    for household, (people, _, certificates) in moved.items():
        profile = profiles[household]
        assert profile["member_count"] == len(people) and profile["lives_alone"] == (len(people) == 1)
        assert profile["head_id_number"] == head.get(household)
        assert profile["has_disability"] == bool(certificates)
        assert profile["sources"].get("address") == "公安"
