"""The resident view's per-event step, alone and inside faust's agent test context (memory store)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from civicbus.core.deadletter import DeadLetter
from civicbus.streams import profile
from civicbus.streams.resident_view import build, fold
from civicbus.streams.settings import StreamsSettings

REG = {
    "op": "r",
    "after": {"id_number": "X1", "name": "王芳", "gender_code": "2", "birth_date": "1949-12-31"},
}
SUB = {
    "op": "r",
    "after": {
        "subsidy_id": "7",
        "id_number": "X1",
        "name": "王方",
        "gender_code": "2",
        "birth_date": "1949-12-31",
        "kind": "DIBAO",
    },
}


class JsonCodec:
    """Stands in for the Avro codec: keys are text, values JSON."""

    def key(self, data: bytes) -> str:
        return data.decode()

    def event(self, data: bytes) -> dict[str, Any]:
        decoded = json.loads(data)
        if not isinstance(decoded, dict):
            raise ValueError("not an event")
        return decoded

    def profile(self, data: bytes) -> profile.Profile:
        return self.event(data)

    def encode(self, value: profile.Profile) -> bytes:
        return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


def test_fold_joins_both_departments_in_a_plain_mapping_and_forgets_an_empty_profile() -> None:
    table: dict[bytes, bytes] = {}
    codec = JsonCodec()
    fold(table, codec, profile.SUBSIDY, b"X1", json.dumps(SUB).encode())
    out = fold(table, codec, profile.REGISTRATION, b"X1", json.dumps(REG).encode())
    joined = json.loads(out.value or b"")
    assert out.changed and joined["departments"] == ["公安", "民政"] and joined["discrepancies"]
    assert fold(table, codec, profile.REGISTRATION, b"X1", None).value is not None  # subsidies remain
    gone = {**SUB, "op": "d", "before": SUB["after"], "after": None}
    assert fold(table, codec, profile.SUBSIDY, b"X1", json.dumps(gone).encode()).value is None
    assert table == {}


def test_a_replayed_event_changes_nothing() -> None:
    table: dict[bytes, bytes] = {}
    codec = JsonCodec()
    events = [(profile.SUBSIDY, {**SUB, "ts_ms": 1000}), (profile.REGISTRATION, {**REG, "ts_ms": 2000})]
    for part, event in events:
        assert fold(table, codec, part, b"X1", json.dumps(event).encode()).changed
    settled = dict(table)
    for part, event in events:  # a worker killed before committing its offsets reads them again
        again = fold(table, codec, part, b"X1", json.dumps(event).encode())
        assert not again.changed
    assert table == settled and json.loads(settled[b"X1"])["updated_ms"] == 2000


def test_a_bad_event_raises_and_leaves_the_table_as_it_was() -> None:
    table = {b"X1": JsonCodec().encode(profile.empty("X1"))}
    before = dict(table)
    try:
        fold(table, JsonCodec(), profile.REGISTRATION, b"X1", b"[1, 2]")
    except ValueError:
        pass
    else:
        raise AssertionError("a bad event must raise")
    assert table == before


def test_the_agents_fold_into_one_table_and_dead_letter_bad_events(tmp_path: Path) -> None:
    settings = StreamsSettings(app_id="test-view", data_dir=tmp_path, store="memory://")
    view = build(settings)
    view.codec = JsonCodec()
    emitted: list[tuple[bytes | None, bytes | None]] = []
    dead: list[DeadLetter] = []

    async def emit(key: bytes | None, value: bytes | None) -> None:
        emitted.append((key, value))

    async def emit_dead(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        dead.append(DeadLetter.decode(value))

    view.emit, view.emit_dead = emit, emit_dead

    async def scenario() -> None:
        async with view.agents[profile.SUBSIDY].test_context() as subsidies:
            await subsidies.put(json.dumps(SUB).encode(), key=b"X1")
        async with view.agents[profile.REGISTRATION].test_context() as registrations:
            await registrations.put(json.dumps(REG).encode(), key=b"X1")
            await registrations.put(b"\x00not json", key=b"X2")

    asyncio.run(scenario())
    assert [k for k, _ in emitted] == [b"X1", b"X1"]
    joined = json.loads(emitted[-1][1] or b"")
    assert joined["departments"] == ["公安", "民政"]
    assert json.loads(view.table[b"X1"]) == joined
    assert len(dead) == 1 and dead[0].origin == "resident-profile" and dead[0].payload == b"\x00not json"


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
    view = build(StreamsSettings(app_id="test-outage", data_dir=tmp_path, store="memory://"))
    view.codec = FlakyRegistryCodec(outage=3)
    emitted: list[bytes | None] = []
    dead: list[bytes] = []

    async def emit(key: bytes | None, value: bytes | None) -> None:
        emitted.append(value)

    async def emit_dead(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        dead.append(value)

    view.emit, view.emit_dead = emit, emit_dead

    async def scenario() -> None:
        async with view.agents[profile.REGISTRATION].test_context() as registrations:
            await registrations.put(json.dumps(REG).encode(), key=b"X1")

    asyncio.run(scenario())
    assert dead == [] and len(emitted) == 1 and view.codec.outage == 0
