"""The whole path: two departmental databases → connectors → the streams worker → unified resident view."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civicbus.core.deadletter import DeadLetter
from civicbus.demo.generate import HUKOU, MINZHENG, generate, hukou_row, local_now, minzheng_row, person
from civicbus.schemas.standards import id_number

from ..helpers import connector_file, read_topic, spawn, stop, streams_env, view_state, wait_until

pytestmark = pytest.mark.integration


def test_unified_view_joins_both_departments_in_any_order_and_survives_a_restart(
    tmp_path: Path, bus_env: dict[str, str], registry_url: str, bootstrap: str, logs: Path
) -> None:
    hukou_url, minzheng_url = f"sqlite:///{tmp_path / 'h.db'}", f"sqlite:///{tmp_path / 'm.db'}"
    _, m = generate(hukou_url, minzheng_url, 300, bad_rate=0.0)
    hukou_yaml, hukou = connector_file(tmp_path, "gongan-hukou.yaml", hukou_url)
    minzheng_yaml, minzheng = connector_file(tmp_path, "minzheng-subsidy.yaml", minzheng_url)
    setup = streams_env(bus_env, tmp_path, hukou["target"]["topic"], minzheng["target"]["topic"])
    env, view = setup.env, setup.view
    procs = []
    try:
        # civil affairs first: its events reach the join before any registration exists
        procs.append(spawn(["connectors", "run", str(minzheng_yaml)], env, logs / "minzheng.log"))
        read_topic(bootstrap, minzheng["target"]["topic"], m, timeout=60)
        worker = spawn(["streams", "worker"], env, logs / "streams1.log")
        wait_until(lambda: len(view_state(bootstrap, registry_url, view)) >= 1, 90, "the first profiles")
        procs.append(spawn(["connectors", "run", str(hukou_yaml)], env, logs / "hukou.log"))

        with sa.create_engine(hukou_url).connect() as conn:
            registered = {r.GMSFHM for r in conn.execute(sa.select(HUKOU.c.GMSFHM))}
        with sa.create_engine(minzheng_url).connect() as conn:
            subsidised = {id_number.normalize(r.sfzh) for r in conn.execute(sa.select(MINZHENG.c.sfzh))}
        everyone = registered | subsidised

        def complete() -> dict[str, Any] | None:
            profiles = view_state(bootstrap, registry_url, view)
            done = set(profiles) == everyone and all(
                (p["registration"] is not None) == (k in registered)
                and bool(p["subsidies"]) == (k in subsidised)
                for k, p in profiles.items()
            )
            return profiles if done else None

        profiles = wait_until(complete, 90, "every resident's joined profile", interval=1)
        both = [p for k, p in profiles.items() if k in registered & subsidised]
        assert both and all(p["departments"] == ["公安", "民政"] for p in both)
        assert any(p["discrepancies"] for p in both), "the generator re-keys some names by hand"

        # a row inserted into both databases while everything runs reaches the view (how fast is
        # measured in bench/, not asserted here)
        rng = random.Random(99)
        newcomer = person(rng)
        now = local_now()
        with sa.create_engine(hukou_url).begin() as conn:
            conn.execute(HUKOU.insert(), [hukou_row(newcomer, rng, now)])
        with sa.create_engine(minzheng_url).begin() as conn:
            conn.execute(MINZHENG.insert(), [minzheng_row(newcomer, rng, now)])

        def arrived() -> bool:
            p = view_state(bootstrap, registry_url, view).get(newcomer.id_number)
            return bool(p and p["registration"] and p["subsidies"])

        wait_until(arrived, 120, "the inserted resident's profile", interval=0.2)

        # restart the worker: its table comes back from the changelog, so a later subsidy for a
        # registered resident still joins with the registration read before the restart
        assert stop(worker) == 0
        worker = spawn(["streams", "worker"], env, logs / "streams2.log")
        # a record that is not Avro reaches the join: it is dead-lettered and the join goes on
        from kafka import KafkaProducer

        garbage = KafkaProducer(bootstrap_servers=bootstrap)
        garbage.send(hukou["target"]["topic"], key=b"not-avro", value=b"{oops").get(timeout=10)
        garbage.close()
        target = sorted(registered - subsidised)[0]
        rng2 = random.Random(5)
        row = minzheng_row(person(rng2), rng2, local_now())
        with sa.create_engine(minzheng_url).begin() as conn:
            conn.execute(MINZHENG.insert(), [{**row, "sfzh": target}])

        def rejoined() -> bool:
            p = view_state(bootstrap, registry_url, view).get(target)
            return bool(p and p["subsidies"] and p["registration"])

        wait_until(rejoined, 120, "the post-restart join", interval=0.5)
        dead = read_topic(bootstrap, setup.dead_letters, 1, timeout=60)
        letter = DeadLetter.decode(dead[0].value)
        assert letter.source["topic"] == hukou["target"]["topic"] and "magic byte" in letter.reason
        assert letter.origin_kind == "processor" and letter.payload  # kept for a replay
    finally:
        for proc in procs:
            stop(proc)
        stop(worker)
