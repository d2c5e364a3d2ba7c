"""The shipped resident view run by the declared-view app: its step alone, and its agents inside
faust's test context (memory store), with a JSON codec standing in for Avro."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from civicbus.core.deadletter import DeadLetter
from civicbus.streams.settings import StreamsSettings
from civicbus.streams.views import state
from civicbus.streams.views.app import Views, build, step
from civicbus.streams.views.catalog import load_all, shipped

VIEW = next(v for v in load_all() if v.name == "resident-profile")
REGISTRATION, SUBSIDY = 0, 1
REG = {
    "op": "r",
    "after": {"id_number": "X1", "name": "王芳", "gender_code": "2", "birth_date": -7306},
    "ts_ms": 2000,
}
SUB = {
    "op": "r",
    "after": {
        "subsidy_id": "7",
        "id_number": "X1",
        "name": "王方",
        "gender_code": "2",
        "birth_date": -7306,
        "kind": "DIBAO",
    },
    "ts_ms": 1000,
}


class JsonCodec:
    """Stands in for the Avro codec: keys are text, events and records JSON."""

    def event(self, data: bytes) -> dict[str, Any]:
        decoded = json.loads(data)
        if not isinstance(decoded, dict):
            raise ValueError("not an event")
        return decoded

    def key(self, value: str) -> bytes:
        return value.encode()

    def record(self, value: dict[str, Any]) -> bytes:
        return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


def raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def test_the_shipped_views_are_valid() -> None:
    assert [p.name for p in sorted(shipped().glob("*.yaml"))] == ["resident-profile.yaml"]
    assert VIEW.topic == "civicbus.view.resident-profile"


def test_step_joins_both_departments_and_tombstones_an_empty_profile() -> None:
    table: dict[bytes, bytes] = {}
    codec = JsonCodec()
    step(table, codec, VIEW, SUBSIDY, raw(SUB), 0)
    out = step(table, codec, VIEW, REGISTRATION, raw(REG), 0)
    joined = json.loads(out.value or b"")
    assert out.changed and out.key == b"X1"
    assert joined["departments"] == ["公安", "民政"] and joined["registration"]["name"] == "王芳"
    assert (joined["name"], joined["sources"]["name"]) == ("王芳", "公安")
    assert joined["discrepancies"] == ["name: 公安=王芳 民政=王方"]
    assert not step(table, codec, VIEW, REGISTRATION, None, 1).changed  # a Kafka tombstone
    gone = {**REG, "op": "d", "before": REG["after"], "after": None, "ts_ms": 3000}
    still = json.loads(step(table, codec, VIEW, REGISTRATION, raw(gone), 1).value or b"")
    assert still["registration"] is None and still["name"] == "王方" and still["departments"] == ["民政"]
    gone = {**SUB, "op": "d", "before": SUB["after"], "after": None, "ts_ms": 4000}
    assert step(table, codec, VIEW, SUBSIDY, raw(gone), 1).value is None


def test_a_replay_changes_nothing_but_writes_the_view_again_and_an_older_event_writes_nothing() -> None:
    table: dict[bytes, bytes] = {}
    codec = JsonCodec()
    events = [(SUBSIDY, SUB), (REGISTRATION, REG)]
    for source, event in events:
        assert step(table, codec, VIEW, source, raw(event), 5).changed
    settled = dict(table)
    latest = step(table, codec, VIEW, REGISTRATION, raw(REG), 5)
    for source, event in events:  # a worker killed before committing its offsets reads them again
        again = step(table, codec, VIEW, source, raw(event), 5)
        # its view record may not have reached the topic before the kill: it is written again
        assert not again.changed and again.emit and again.value == latest.value
    older = step(table, codec, VIEW, REGISTRATION, raw({**REG, "ts_ms": 1500}), 4)
    assert not older.changed and not older.emit
    assert table == settled


def test_a_bad_event_raises_and_leaves_the_table_as_it_was() -> None:
    table = {b"X1": state.encode({})}
    before = dict(table)
    for bad in (b"[1, 2]", raw({"op": "r", "after": {"name": "no key"}, "ts_ms": 1})):
        try:
            step(table, JsonCodec(), VIEW, REGISTRATION, bad, 0)
        except ValueError:
            pass
        else:
            raise AssertionError("a bad event must raise")
    assert table == before


def run_agents(views: Views, events: list[tuple[int, bytes]]) -> tuple[list[Any], list[DeadLetter]]:
    emitted: list[Any] = []
    dead: list[DeadLetter] = []

    async def emit(topic: str, key: bytes | None, value: bytes | None, headers: Any) -> None:
        if topic == VIEW.dead_letter_topic:
            dead.append(DeadLetter.decode(value or b""))
        else:
            emitted.append((topic, key, value))

    views.emit = emit

    async def scenario() -> None:
        for source, value in events:
            async with views.agents[(VIEW.name, source)].test_context() as agent:
                await agent.put(value, key=b"X1")

    asyncio.run(scenario())
    return emitted, dead


def test_the_agents_fold_into_one_table_and_dead_letter_bad_events(tmp_path: Path) -> None:
    views = build(StreamsSettings(app_id="test-view", data_dir=tmp_path, store="memory://"), [VIEW])
    views.codecs[VIEW.name] = JsonCodec()
    emitted, dead = run_agents(
        views, [(SUBSIDY, raw(SUB)), (REGISTRATION, raw(REG)), (REGISTRATION, b"\x00bad")]
    )
    assert [(t, k) for t, k, _ in emitted] == [(VIEW.topic, b"X1"), (VIEW.topic, b"X1")]
    assert json.loads(emitted[-1][2])["departments"] == ["公安", "民政"]
    assert set(state.decode(views.tables[VIEW.name][b"X1"])) == {"0", "1"}
    assert len(dead) == 1 and dead[0].origin == "resident-profile" and dead[0].payload == b"\x00bad"


class FlakyRegistryCodec(JsonCodec):
    """The registry is away for the first ``outage`` decodes, then answers."""

    def __init__(self, outage: int) -> None:
        self.outage = outage

    def event(self, data: bytes) -> dict[str, Any]:
        from civicbus.schemas.registry_errors import RegistryError

        if self.outage:
            self.outage -= 1
            raise RegistryError(50002, "registry at http://127.0.0.1:8081 unreachable")
        return super().event(data)


def test_a_registry_outage_holds_the_event_back_and_dead_letters_nothing(
    tmp_path: Path, monkeypatch: Any
) -> None:
    import civicbus.core.backoff as backoff

    monkeypatch.setattr(backoff.Backoff, "next_delay", lambda self: 0.01)
    views = build(StreamsSettings(app_id="test-outage", data_dir=tmp_path, store="memory://"), [VIEW])
    codec = FlakyRegistryCodec(outage=3)
    views.codecs[VIEW.name] = codec
    emitted, dead = run_agents(views, [(REGISTRATION, raw(REG))])
    assert dead == [] and len(emitted) == 1 and codec.outage == 0


def test_views_validate_lists_every_problem_of_every_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from civicbus.cli import main

    broken = tmp_path / "broken.yaml"
    text = (shipped() / "resident-profile.yaml").read_text(encoding="utf-8")
    broken.write_text(
        text.replace("record: Subsidy", "record: Nothing").replace("[公安, 民政]", "[公安, 残联]")
    )
    result = CliRunner().invoke(
        main, ["views", "validate", str(shipped() / "resident-profile.yaml"), str(broken)]
    )
    assert result.exit_code == 2
    assert "resident-profile.yaml: ok" in result.output
    assert "no canonical record named 'Nothing'" in result.output and "残联 is not one of" in result.output
