"""The household view's source re-keyed from ID number to household number (the engine's
re-keying and the fold of the repartitioned events, no Kafka), with the JSON codec of
test_view_batch standing in for Avro."""

from __future__ import annotations

import json
from typing import Any

from civicbus.streams.engine.batch import MOVED, fold_batch
from civicbus.streams.engine.rekey import rekey_batch
from civicbus.streams.views.catalog import load_all

from .test_view_batch import JsonCodec, Msg

VIEW = next(v for v in load_all() if v.name == "household")
DAY = 86_400_000


def registration(
    id_number: str, household: str | None, ts: int, op: str = "u", born: int = -7306, relation: str = "20"
) -> Msg:
    row = {
        "id_number": id_number,
        "name": "某",
        "household_id": household,
        "birth_date": born,
        "address": "东城",
        "relation_code": relation,
    }
    event: dict[str, Any] = {"op": op, "after": row, "ts_ms": ts}
    if op == "d":
        event = {"op": "d", "before": row, "after": None, "ts_ms": ts}
    return Msg(event, ts, keyed=id_number.encode())


class Pipeline:
    """The re-keying's memory and the view's states, with the repartition topic between them."""

    def __init__(self) -> None:
        self.stores: dict[str, dict[bytes, bytes]] = {}
        self.states: dict[bytes, bytes] = {}
        self.offset = 0
        self.letters: list[str] = []

    def run(self, *events: Msg | tuple[int, Msg]) -> dict[str, dict[str, Any] | None]:
        """Re-key then fold ``events`` (registrations, or (source index, message))."""
        codec = JsonCodec()
        indexed = [e if isinstance(e, tuple) else (0, e) for e in events]

        def scan(name: str, prefix: bytes) -> list[tuple[bytes, bytes]]:
            return sorted((k, v) for k, v in self.stores.get(name, {}).items() if k.startswith(prefix))

        re = rekey_batch(VIEW, codec, lambda name: self.stores.get(name, {}).get, scan, indexed)
        for name, states in re.states.items():
            for row_key, held in states.items():
                if held is None:
                    self.stores.setdefault(name, {}).pop(row_key, None)
                else:
                    self.stores.setdefault(name, {})[row_key] = held
        self.letters += [reason for _, reason in re.letters]
        repartitioned = []
        for index, key, value, moved in re.sends:
            self.offset += 1
            repartitioned.append((index, Msg(value, self.offset, keyed=key, moved=moved)))
        out = fold_batch(VIEW, codec, self.states.get, repartitioned)
        self.states.update(out.states)
        return {k.decode(): json.loads(v) if v is not None else None for k, v in out.records.items()}


def members(record: dict[str, Any] | None) -> list[str]:
    return [m["id_number"] for m in (record or {}).get("members", [])]


def test_members_join_their_household_and_a_move_leaves_the_old_one() -> None:
    p = Pipeline()
    first = p.run(
        registration("A", "H1", 1000, relation="02"),
        registration("B", "H1", 1000),
        registration("C", "H2", 1000),
    )
    assert members(first["H1"]) == ["A", "B"] and members(first["H2"]) == ["C"]
    assert first["H1"] is not None and first["H1"]["head_id_number"] == "A"
    assert first["H2"] is not None and first["H2"]["head_id_number"] is None
    assert first["H2"] is not None and first["H2"]["lives_alone"] and first["H2"]["member_count"] == 1
    moved = p.run(registration("B", "H2", 2000))
    assert members(moved["H1"]) == ["A"] and members(moved["H2"]) == ["B", "C"]
    assert p.stores["household.0.keys"][b"B"] == b"H2"
    # a late, older event of B's old registration changes nothing in either household
    assert p.run(Msg(registration("B", "H1", 1500).event, 1, keyed=b"B")).get("H1") is None
    gone = p.run(registration("A", "H1", 3000, op="d"))
    assert gone == {"H1": None} and b"A" not in p.stores["household.0.keys"]
    cleared = p.run(registration("C", None, 4000))
    assert members(cleared["H2"]) == ["B"] and b"C" not in p.stores["household.0.keys"]
    assert p.letters == []


def test_an_elderly_person_living_alone_is_flagged_at_the_views_time() -> None:
    p = Pipeline()
    born_1950 = -7305  # 1950-01-01 in days since 1970
    out = p.run(registration("E", "H9", 1_700_000_000_000, born=born_1950))
    assert out["H9"] is not None and out["H9"]["elderly_alone"] is True
    young = p.run(registration("Y", "H9", 1_700_000_000_000 + DAY, born=10_000))
    assert young["H9"] is not None and young["H9"]["elderly_alone"] is False


def test_an_event_without_a_key_or_a_row_is_reported_and_the_rest_re_keyed() -> None:
    p = Pipeline()
    keyless = Msg({"op": "c", "after": {"id_number": "K", "household_id": "H1"}, "ts_ms": 1}, 1, keyed=b"")
    keyless.keyed = None  # type: ignore[assignment]
    rowless = Msg({"op": "c", "ts_ms": 1}, 2, keyed=b"R")
    out = p.run(keyless, rowless, registration("A", "H1", 1000))
    assert members(out["H1"]) == ["A"]
    assert len(p.letters) == 2 and "no key" in p.letters[0] and "names no row" in p.letters[1]


def test_a_moved_out_event_on_a_source_that_is_not_re_keyed_is_an_ordinary_event() -> None:
    resident = next(v for v in load_all() if v.name == "resident-profile")
    msg = registration("X1", "H1", 1000)
    msg.moved = True
    out = fold_batch(resident, JsonCodec(), {}.get, [(0, msg)])
    assert list(out.records) == [b"X1"] and MOVED == "civicbus.moved-out"


SUBSIDY, CERTIFICATE = 1, 2


def subsidy(id_number: str, ident: str, ts: int, op: str = "c") -> tuple[int, Msg]:
    row = {"subsidy_id": ident, "id_number": id_number, "kind": "DIBAO", "status": "ACTIVE"}
    event: dict[str, Any] = {"op": op, "after": row, "ts_ms": ts}
    if op == "d":
        event = {"op": "d", "before": row, "after": None, "ts_ms": ts}
    return SUBSIDY, Msg(event, ts, keyed=id_number.encode())


def certificate(id_number: str, ts: int) -> tuple[int, Msg]:
    row = {"certificate_no": id_number + "41", "id_number": id_number, "category": "PHYSICAL", "grade": 1}
    return CERTIFICATE, Msg({"op": "c", "after": row, "ts_ms": ts}, ts, keyed=id_number.encode())


def subsidies(record: dict[str, Any] | None) -> list[str]:
    return [s["subsidy_id"] for s in (record or {}).get("subsidies", [])]


def test_subsidies_and_certificates_follow_their_holder_into_and_between_households() -> None:
    p = Pipeline()
    # a subsidy arriving before its holder's registration waits for it
    assert p.run(subsidy("A", "s1", 500)) == {}
    first = p.run(registration("A", "H1", 1000), subsidy("A", "s2", 1000), certificate("A", 1000))
    assert subsidies(first["H1"]) == ["s1", "s2"] and first["H1"] is not None
    assert first["H1"]["has_disability"] is True and first["H1"]["departments"] == ["公安", "残联", "民政"]
    # the holder moves: their subsidies and certificate leave H1 and join H2
    moved = p.run(registration("B", "H2", 1500), registration("A", "H2", 2000))
    assert moved["H1"] is None, "nobody and nothing is left in H1"
    assert members(moved["H2"]) == ["A", "B"] and subsidies(moved["H2"]) == ["s1", "s2"]
    assert moved["H2"] is not None and moved["H2"]["has_disability"] is True
    # a subsidy ended: it leaves the household the holder is in now
    ended = p.run(subsidy("A", "s1", 2500, op="d"))
    assert subsidies(ended["H2"]) == ["s2"]
    assert p.letters == []
