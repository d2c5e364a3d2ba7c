import datetime as dt
import itertools

from civicbus.streams import profile

REG = {
    "op": "r",
    "after": {"id_number": "X1", "name": "王芳", "gender_code": "2", "birth_date": dt.date(1949, 12, 31)},
}
SUB_A = {
    "op": "r",
    "after": {
        "subsidy_id": "1",
        "id_number": "X1",
        "name": "王方",
        "gender_code": "2",
        "birth_date": dt.date(1949, 12, 31),
        "kind": "DIBAO",
    },
}
SUB_B = {
    "op": "r",
    "after": {
        "subsidy_id": "2",
        "id_number": "X1",
        "name": "王芳",
        "gender_code": None,
        "birth_date": None,
        "kind": "ELDERLY",
    },
}
EVENTS = [(profile.REGISTRATION, REG), (profile.SUBSIDY, SUB_A), (profile.SUBSIDY, SUB_B)]


def fold(events: list[tuple[str, dict[str, object]]]) -> profile.Profile | None:
    p: profile.Profile | None = profile.empty("X1")
    for part, ev in events:
        p = profile.apply(p or profile.empty("X1"), part, ev, now_ms=1)
    return p


def test_any_arrival_order_gives_the_same_profile() -> None:
    results = [fold(list(order)) for order in itertools.permutations(EVENTS)]
    assert all(r == results[0] for r in results)
    p = results[0]
    assert p is not None
    assert p["departments"] == ["公安", "民政"]
    assert [s["subsidy_id"] for s in p["subsidies"]] == ["1", "2"]
    assert p["discrepancies"] == ["name: 公安=王芳 民政=王方 (1)"]


def test_updates_replace_and_deletes_remove() -> None:
    p = fold(EVENTS)
    assert p is not None
    ended = {"op": "r", "after": {**SUB_A["after"], "kind": "TEKUN"}}
    p2 = profile.apply(p, profile.SUBSIDY, ended, now_ms=2)
    assert p2 is not None and [s["kind"] for s in p2["subsidies"]] == ["TEKUN", "ELDERLY"]
    p3 = profile.apply(p2, profile.REGISTRATION, {"op": "d", "before": REG["after"]}, now_ms=3)
    assert p3 is not None and p3["registration"] is None and p3["departments"] == ["民政"]
    p4 = profile.apply(p3, profile.SUBSIDY, {"op": "d", "before": SUB_A["after"]}, now_ms=4)
    assert p4 is not None
    assert profile.apply(p4, profile.SUBSIDY, {"op": "d", "before": SUB_B["after"]}) is None
