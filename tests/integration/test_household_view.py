"""The household view (一户一档) in a worker: registrations keyed by ID number, re-keyed by
household number through the worker's repartition topic; a resident who moves household leaves
the old one; the records decode with confluent-kafka's AvroDeserializer."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from civicbus.demo.generate import HUKOU, generate, local_now
from civicbus.streams.views.catalog import shipped

from ..helpers import connector_file, read_topic, spawn, stop, unique, view_state, wait_until

pytestmark = pytest.mark.integration


def households(url: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    with sa.create_engine(url).connect() as conn:
        for row in conn.execute(sa.select(HUKOU.c.GMSFHM, HUKOU.c.HH)):
            found[row.HH].add(row.GMSFHM)
    return dict(found)


def heads(url: str) -> dict[str, str]:
    with sa.create_engine(url).connect() as conn:
        return {r.HH: r.GMSFHM for r in conn.execute(sa.select(HUKOU).where(HUKOU.c.YHZGX == "户主"))}


def test_members_are_re_keyed_into_their_household_and_a_move_leaves_the_old_one(
    tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    hukou_url = f"sqlite:///{tmp_path / 'h.db'}"
    generate(hukou_url, f"sqlite:///{tmp_path / 'm.db'}", 200, bad_rate=0.0)
    hukou_yaml, hukou = connector_file(tmp_path, "gongan-hukou.yaml", hukou_url)
    views = tmp_path / "views"
    views.mkdir()
    spec = yaml.safe_load((shipped() / "household.yaml").read_text(encoding="utf-8"))
    spec |= {"name": unique("household").lower(), "topic": unique("view"), "dead_letters": unique("dlq")}
    spec["sources"][0]["topic"] = hukou["target"]["topic"]
    (views / "household.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    env = {
        **bus_env,
        "CIVICBUS_STREAMS_APP_ID": unique("streams"),
        "CIVICBUS_STREAMS_VIEWS_DIR": str(views),
        "CIVICBUS_STREAMS_DATA_DIR": str(tmp_path / "streams"),
    }
    view = spec["topic"]

    def members() -> dict[str, set[str]]:
        return {
            k: {m["id_number"] for m in p["members"]}
            for k, p in view_state(bootstrap, registry_url, view).items()
        }

    procs = [
        spawn(["connectors", "run", str(hukou_yaml)], env, logs / "hukou.log"),
        spawn(["streams", "worker"], env, logs / "streams.log"),
    ]
    try:
        expected = households(hukou_url)
        assert any(len(m) > 1 for m in expected.values()), "the generator puts several people in a household"
        wait_until(lambda: members() == expected, 120, "every household with its members", interval=1)

        # move someone from a household of several into another one
        mover_from = next(h for h, m in expected.items() if len(m) > 1)
        mover = sorted(expected[mover_from])[0]
        mover_to = next(h for h in expected if h != mover_from)
        with sa.create_engine(hukou_url).begin() as conn:
            conn.execute(HUKOU.update().where(mover == HUKOU.c.GMSFHM).values(HH=mover_to, GXSJ=local_now()))
        moved = households(hukou_url)
        assert mover in moved[mover_to] and mover not in moved[mover_from]
        wait_until(lambda: members() == moved, 120, "the move in both households", interval=0.5)
    finally:
        for proc in procs:
            stop(proc)

    client = SchemaRegistryClient({"url": registry_url})
    values, keys = AvroDeserializer(client), AvroDeserializer(client)
    profiles = {}
    for rec in read_topic(bootstrap, view, len(moved), timeout=30, settle=1):
        key = keys(rec.key, SerializationContext(view, MessageField.KEY))
        profiles[key] = values(rec.value, SerializationContext(view, MessageField.VALUE))
    head = heads(hukou_url)
    assert len(head) > len(moved) / 2, "most households have their head registered here"
    for household, people in moved.items():
        profile = profiles[household]
        assert profile["member_count"] == len(people) and profile["lives_alone"] == (len(people) == 1)
        assert profile["head_id_number"] == head.get(household)
        assert profile["departments"] == ["公安"] and profile["sources"].get("address") == "公安"
