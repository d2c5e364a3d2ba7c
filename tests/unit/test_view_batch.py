"""The shipped resident view folded batch by batch (the engine's per-batch work, no Kafka), with a
JSON codec standing in for Avro, and the stores the engine keeps states in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from civicbus.schemas.registry_errors import RegistryError
from civicbus.streams.engine.batch import DIGEST, Folded, fold_batch
from civicbus.streams.engine.stores import MemoryStore, RocksStore, open_store
from civicbus.streams.views import state
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
    """Stands in for the Avro codec: keys are text, events and records JSON; a record holding
    ``refused`` as a name does not fit the view's schema."""

    def event(self, data: bytes) -> dict[str, Any]:
        decoded = json.loads(data)
        if not isinstance(decoded, dict):
            raise ValueError("not an event")
        return decoded

    def key(self, value: str) -> bytes:
        return value.encode()

    def unkey(self, data: bytes) -> str:
        return data.decode()

    def record(self, value: dict[str, Any]) -> bytes:
        if value.get("name") == "refused":
            raise ValueError("name: does not fit the record")
        return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


@dataclass
class Msg:
    """A consumed message as the engine reads it (confluent-kafka's Message methods)."""

    event: dict[str, Any] | bytes | None
    at: int = 0
    keyed: bytes = b"X1"
    moved: bool = False

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.at

    def key(self) -> bytes:
        return self.keyed

    def headers(self) -> list[tuple[str, bytes]] | None:
        return [("civicbus.moved-out", b"1")] if self.moved else None

    def value(self) -> bytes | None:
        if self.event is None or isinstance(self.event, bytes):
            return self.event
        return json.dumps(self.event).encode()


class Table:
    """A store as a dict, committed only when a test says so (as the engine does after its
    transaction)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def fold(self, *events: tuple[int, Msg], codec: Any = None) -> Folded:
        out = fold_batch(VIEW, codec or JsonCodec(), self.data.get, list(events))
        self.data.update(out.states)
        return out


def record(out: Folded, key: bytes = b"X1") -> dict[str, Any] | None:
    value = out.records[key]
    return json.loads(value) if value is not None else None


def test_the_shipped_views_are_valid() -> None:
    shipped_files = [p.name for p in sorted(shipped().glob("*.yaml"))]
    assert shipped_files == ["enterprise.yaml", "household.yaml", "resident-profile.yaml"]
    assert VIEW.topic == "civicbus.view.resident-profile"


def test_a_batch_joins_both_departments_and_a_profile_with_no_rows_left_is_a_tombstone() -> None:
    table = Table()
    out = table.fold((SUBSIDY, Msg(SUB, 0)), (REGISTRATION, Msg(REG, 0)))
    joined = record(out)
    assert joined is not None and list(out.records) == [b"X1"] and list(out.states) == [b"X1"]
    assert joined["departments"] == ["公安", "民政"] and joined["registration"]["name"] == "王芳"
    assert (joined["name"], joined["sources"]["name"]) == ("王芳", "公安")
    assert joined["discrepancies"] == ["name: 公安=王芳 民政=王方"]
    assert table.fold((REGISTRATION, Msg(None, 1))).records == {}  # a Kafka tombstone: nothing
    gone = {**REG, "op": "d", "before": REG["after"], "after": None, "ts_ms": 3000}
    still = record(table.fold((REGISTRATION, Msg(gone, 2))))
    assert still is not None and still["registration"] is None and still["name"] == "王方"
    gone = {**SUB, "op": "d", "before": SUB["after"], "after": None, "ts_ms": 4000}
    assert table.fold((SUBSIDY, Msg(gone, 3))).records == {b"X1": None}


def test_a_batch_writes_each_key_once_with_its_last_record() -> None:
    renamed = {**REG, "after": {**REG["after"], "name": "王芳芳"}, "ts_ms": 2500}
    in_one = Table().fold(
        (REGISTRATION, Msg(REG, 0)), (SUBSIDY, Msg(SUB, 0)), (REGISTRATION, Msg(renamed, 1))
    )
    one_by_one = Table()
    for source, msg in ((REGISTRATION, Msg(REG, 0)), (SUBSIDY, Msg(SUB, 0)), (REGISTRATION, Msg(renamed, 1))):
        last = one_by_one.fold((source, msg))
    assert in_one.records == last.records and in_one.states == {b"X1": one_by_one.data[b"X1"]}
    assert (record(in_one) or {})["name"] == "王芳芳"


def test_a_replayed_or_older_event_and_one_that_changes_nothing_visible_write_nothing() -> None:
    table = Table()
    table.fold((SUBSIDY, Msg(SUB, 5)), (REGISTRATION, Msg(REG, 5)))
    settled = dict(table.data)
    assert table.fold((SUBSIDY, Msg(SUB, 5)), (REGISTRATION, Msg(REG, 5))) == Folded()  # replayed
    assert table.fold((REGISTRATION, Msg({**REG, "ts_ms": 1500}, 4))) == Folded()  # older
    assert table.data == settled
    # the same row sent again later (a connector re-reading it): the state moves, the record not
    again = table.fold((REGISTRATION, Msg(REG, 9)))
    assert again.records == {} and list(again.states) == [b"X1"]
    assert state.decode(again.states[b"X1"])[DIGEST] == state.decode(settled[b"X1"])[DIGEST]


def test_bad_events_are_reported_with_their_reason_and_the_rest_of_the_batch_applies() -> None:
    table = Table()
    nameless = {"op": "r", "after": {"name": "no key"}, "ts_ms": 1}
    refused = {**REG, "after": {**REG["after"], "name": "refused"}, "ts_ms": 2100}
    bad = [Msg(b"[1, 2]", 1), Msg(nameless, 2), Msg(refused, 3)]
    out = table.fold((REGISTRATION, Msg(REG, 0)), *((REGISTRATION, m) for m in bad), (SUBSIDY, Msg(SUB, 4)))
    assert [m for m, _ in out.letters] == bad
    reasons = [r for _, r in out.letters]
    assert "not an event" in reasons[0] and "'id_number'" in reasons[1] and "does not fit" in reasons[2]
    joined = record(out)
    assert joined is not None and joined["name"] == "王芳" and joined["departments"] == ["公安", "民政"]


def test_a_registry_outage_raises_and_returns_nothing_while_a_refusal_is_reported() -> None:
    class Away(JsonCodec):
        def __init__(self, code: int) -> None:
            self.code = code

        def event(self, data: bytes) -> dict[str, Any]:
            raise RegistryError(self.code, "registry says no")

    table = Table()
    with pytest.raises(RegistryError):
        table.fold((REGISTRATION, Msg(REG, 0)), codec=Away(50002))
    assert table.data == {}
    out = table.fold((REGISTRATION, Msg(REG, 0)), codec=Away(40403))
    assert len(out.letters) == 1 and "40403" in out.letters[0][1] and table.data == {}


@pytest.mark.parametrize("kind", ["rocksdb", "memory"])
def test_a_store_writes_states_and_checkpoint_together_and_rocksdb_keeps_them(
    kind: str, tmp_path: Path
) -> None:
    store = open_store(kind, tmp_path / "s")
    assert store.checkpoint == 0 and store.get(b"\x00k") is None
    store.write({b"\x00k": b"1", b"\x00j": b"2"}, 7)
    store.write({b"\x00j": None}, 5)  # a checkpoint never goes back
    assert (store.get(b"\x00k"), store.get(b"\x00j"), store.checkpoint) == (b"1", None, 7)
    store.close()
    if kind == "rocksdb":
        again = RocksStore(tmp_path / "s")
        assert (again.get(b"\x00k"), again.checkpoint) == (b"1", 7)
        again.close()
    else:
        assert isinstance(store, MemoryStore)


def test_views_validate_lists_every_problem_of_every_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from civicbus.cli import main

    broken = tmp_path / "broken.yaml"
    text = (shipped() / "resident-profile.yaml").read_text(encoding="utf-8")
    broken.write_text(
        text.replace("record: Subsidy", "record: Nothing").replace("[公安, 民政]", "[公安, 统计局]")
    )
    result = CliRunner().invoke(
        main, ["views", "validate", str(shipped() / "resident-profile.yaml"), str(broken)]
    )
    assert result.exit_code == 2
    assert "resident-profile.yaml: ok" in result.output
    assert "no canonical record named 'Nothing'" in result.output and "统计局 is not one of" in result.output


def test_librdkafka_errors_are_logged_once_a_period_with_their_repeats() -> None:
    from structlog.testing import capture_logs

    from civicbus.core.rdkafka import ErrorLog

    class Err:
        def __init__(self, code: int, fatal: bool = False) -> None:
            self._code, self._fatal = code, fatal

        def code(self) -> int:
            return self._code

        def fatal(self) -> bool:
            return self._fatal

        def str(self) -> str:
            return f"error {self._code}"

    errors = ErrorLog(every_s=3600)
    with capture_logs() as logs:
        for _ in range(50):
            errors(Err(-195))  # all brokers down, over and over
        errors(Err(-185))
        errors(Err(-195, fatal=True))
    assert [(e["error"], e["repeated"], e["fatal"]) for e in logs] == [
        ("error -195", 0, False),
        ("error -185", 0, False),
        ("error -195", 49, True),
    ]


def test_sources_are_kept_by_name_so_reordering_them_changes_nothing_and_old_states_upgrade() -> None:
    table = Table()
    table.fold((SUBSIDY, Msg(SUB, 0)), (REGISTRATION, Msg(REG, 0)))
    stored = state.decode(table.data[b"X1"])
    assert {"公安", "民政"} <= set(stored)
    reordered = VIEW.model_copy(update={"sources": list(reversed(VIEW.sources[:2])) + VIEW.sources[2:]})
    renamed = {**REG, "after": {**REG["after"], "name": "王芳芳"}, "ts_ms": 2500}
    out = fold_batch(reordered, JsonCodec(), table.data.get, [(1, Msg(renamed, 1))])
    joined = record(out)
    assert joined is not None and joined["name"] == "王芳芳" and len(joined["subsidies"]) == 1
    # a state written when sources were kept by position reads the same
    legacy = {str(i): stored[s.ident] for i, s in enumerate(VIEW.sources[:2])}
    upgraded = fold_batch(VIEW, JsonCodec(), {b"X1": state.encode(legacy)}.get, [(0, Msg(renamed, 1))])
    assert (record(upgraded) or {})["subsidies"] == joined["subsidies"]


def test_two_sources_of_one_department_need_ids() -> None:
    from civicbus.streams.views.spec import check

    twice = VIEW.model_copy(update={"sources": [*VIEW.sources, VIEW.sources[1]]})
    assert "sources: two sources are named '民政': give each an id" in check(twice)
    named = VIEW.sources[1].model_copy(update={"id": "民政-2"})
    assert not [p for p in check(VIEW.model_copy(update={"sources": [*VIEW.sources, named]})) if "named" in p]


def test_dates_kept_as_avro_days_read_as_dates_in_disagreements() -> None:
    later = {**SUB, "after": {**SUB["after"], "name": "王芳", "birth_date": -7305}}
    out = Table().fold((REGISTRATION, Msg(REG, 0)), (SUBSIDY, Msg(later, 0)))
    joined = record(out) or {}
    assert joined["discrepancies"] == ["birth_date: 公安=1949-12-31 民政=1950-01-01"]
    assert joined["birth_date"] == -7306 and joined["age"] is not None
