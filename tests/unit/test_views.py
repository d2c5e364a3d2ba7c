"""Declared views: the file's checks, and the fold's rules (authority, collections, order, replay)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicbus.schemas import model
from civicbus.streams.views import state as codec
from civicbus.streams.views.fold import Outcome, apply, change, render
from civicbus.streams.views.spec import ViewError, ViewSpec, check, load

DATE = {"type": "int", "logicalType": "date"}
MONEY = {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}


def rec(name: str, *fields: tuple[str, Any]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "namespace": "t",
            "fields": [{"name": n, "type": t} for n, t in fields],
        }
    )


KNOWN = model.load_catalog(
    [
        rec(
            "Person",
            ("id_number", "string"),
            ("name", "string"),
            ("birth_date", DATE),
            ("hh", ["null", "string"]),
        ),
        rec(
            "Benefit",
            ("benefit_id", "string"),
            ("id_number", "string"),
            ("name", ["null", "string"]),
            ("amount", MONEY),
        ),
        rec("Death", ("id_number", "string"), ("death_date", ["null", DATE])),
        rec(
            "Profile",
            ("id_number", "string"),
            ("name", ["null", "string"]),
            ("birth_date", ["null", DATE]),
            ("death_date", ["null", DATE]),
            ("benefits", {"type": "array", "items": "t.Benefit"}),
            ("age", ["null", "int"]),
            ("sources", {"type": "map", "values": "string"}),
            ("departments", {"type": "array", "items": "string"}),
            ("discrepancies", {"type": "array", "items": "string"}),
            ("closed", ["null", "boolean"]),
            ("closed_by", ["null", "string"]),
            ("updated_ms", "long"),
        ),
    ]
)

SPEC: dict[str, Any] = {
    "name": "profile",
    "key": "id_number",
    "topic": "view.profile",
    "record": "Profile",
    "sources": [
        {
            "department": "公安",
            "topic": "gongan",
            "record": "Person",
            "key": "id_number",
            "fields": {"name": "name", "birth_date": "birth_date"},
        },
        {
            "department": "民政",
            "topic": "minzheng",
            "record": "Benefit",
            "key": "id_number",
            "fields": {"name": "name"},
            "collection": {"into": "benefits", "id": "benefit_id"},
        },
        {
            "department": "卫健",
            "topic": "weijian",
            "record": "Death",
            "key": "id_number",
            "fields": {"death_date": "death_date"},
            "closes": "death_date",
        },
    ],
    "authority": {"name": ["公安", "民政"]},
    "discrepancies": ["name"],
    "derived": {"age": {"function": "age", "args": ["birth_date"]}},
}
VIEW = ViewSpec.model_validate(SPEC)
ID = "110101199003070011"


def test_a_sound_view_has_no_problems() -> None:
    assert check(VIEW, KNOWN) == []
    assert VIEW.ranking("name") == ["公安", "民政", "卫健"]
    assert VIEW.ranking("death_date") == ["公安", "民政", "卫健"]


def test_every_problem_of_a_view_is_reported_at_once() -> None:
    broken = json.loads(json.dumps(SPEC))
    broken["sources"][0]["fields"] = {"name": "birth_date", "nickname": "name", "birth_date": "born"}
    broken["sources"][1]["record"] = "Nothing"
    broken["authority"] = {"name": ["公安", "人社"]}
    broken["derived"] = {"age": {"function": "horoscope", "args": ["star_sign"]}}
    problems = check(ViewSpec.model_validate(broken), KNOWN)
    expected = [
        "sources.0 (公安).fields.name: Person.birth_date is int/date, Profile.name is string",
        "sources.0 (公安).fields.nickname: the record Profile has no field 'nickname'",
        "sources.0 (公安).fields.birth_date: the record Person has no field 'born'",
        "sources.1 (民政).record: no canonical record named 'Nothing' in schemas/avro",
        "authority.name: 人社 is not one of the view's departments",
        "derived.age: unknown function 'horoscope'",
        "derived.age: argument 'star_sign' is not a field of the view",
    ]
    for part in expected:
        assert any(p.startswith(part) for p in problems), (part, problems)


def test_a_file_with_a_bad_shape_names_each_place(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("name: Bad Name\nkey: id_number\nsources: []\nextra: 1\n", encoding="utf-8")
    with pytest.raises(ViewError) as caught:
        load(path)
    places = {p.split(":")[0] for p in caught.value.problems}
    assert {"name", "topic", "record", "sources", "extra"} <= places


def event(
    op: str, row: dict[str, Any] | None, ts: int, before: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"op": op, "after": row, "before": before, "ts_ms": ts + 5, "source_ts_ms": ts}


PERSON = {"id_number": ID, "name": "李四", "birth_date": dt.date(1990, 3, 7), "hh": None}
BENEFIT = {"benefit_id": "B1", "id_number": ID, "name": "李 四", "amount": Decimal("300.00")}


def fold(*events: tuple[int, dict[str, Any], int]) -> dict[str, Any] | None:
    state: dict[str, Any] = {}
    for source, envelope, offset in events:
        apply(state, change(VIEW, source, envelope, offset))
    return render(VIEW, ID, state)


def test_authority_decides_each_field_and_names_the_winner() -> None:
    view = fold((1, event("c", BENEFIT, 1000), 0), (0, event("c", PERSON, 2000), 0))
    assert view is not None
    assert (view["name"], view["sources"]["name"]) == ("李四", "公安")
    assert view["departments"] == ["公安", "民政"] and view["updated_ms"] == 2000
    assert view["discrepancies"] == ["name: 公安=李四 民政=李 四"]
    assert view["disagreements"] == [
        {
            "field": "name",
            "values": [
                {"value": "李四", "departments": ["公安"]},
                {"value": "李 四", "departments": ["民政"]},
            ],
        }
    ]
    assert view["age"] is None  # as of the newest event (1970 + 2 s), before the birth date
    gone = fold(
        (1, event("c", BENEFIT, 1000), 0),
        (0, event("c", PERSON, 2000), 0),
        (0, event("d", None, 3000, PERSON), 1),
    )
    assert gone is not None and (gone["name"], gone["sources"]["name"]) == ("李 四", "民政")


def test_a_copied_spec_renders_from_its_own_sources() -> None:
    state: dict[str, Any] = {}
    apply(state, change(VIEW, 1, event("c", BENEFIT, 1000), 0))
    apply(state, change(VIEW, 0, event("c", PERSON, 2000), 0))
    assert render(VIEW, ID, state)["name"] == "李四"  # type: ignore[index]
    authority = {**VIEW.authority, "name": ["民政", "公安"]}
    copied = VIEW.model_copy(update={"sources": VIEW.sources[1:], "authority": authority})
    view = render(copied, ID, state)
    assert view is not None and view["departments"] == ["民政"] and view["name"] == "李 四"
    assert [p.ident for p in copied.plan] == [s.ident for s in copied.sources]


def test_age_is_taken_at_the_views_own_time() -> None:
    when = int(dt.datetime(2026, 3, 6, tzinfo=dt.UTC).timestamp() * 1000)
    view = fold((0, event("c", PERSON, when), 0))
    assert view is not None and view["age"] == 35
    view = fold((0, event("c", PERSON, when + 86_400_000), 0))
    assert view is not None and view["age"] == 36


def test_collections_replace_and_remove_their_elements() -> None:
    second = {**BENEFIT, "benefit_id": "B0", "amount": Decimal("50.00")}
    raised = {**BENEFIT, "amount": Decimal("320.00")}
    view = fold(
        (1, event("c", BENEFIT, 1000), 0),
        (1, event("c", second, 1100), 1),
        (1, event("u", raised, 1200), 2),
    )
    assert view is not None and [(b["benefit_id"], b["amount"]) for b in view["benefits"]] == [
        ("B0", Decimal("50.00")),
        ("B1", Decimal("320.00")),
    ]
    view = fold((1, event("c", BENEFIT, 1000), 0), (1, event("d", None, 1300, BENEFIT), 1))
    assert view is None  # nothing left: the view gets a tombstone


def test_a_death_closes_the_profile() -> None:
    death = {"id_number": ID, "death_date": dt.date(2026, 5, 1)}
    view = fold((0, event("c", PERSON, 1000), 0), (2, event("c", death, 2000), 0))
    assert view is not None and view["closed"] is True and view["closed_by"] == "卫健"
    assert view["death_date"] == dt.date(2026, 5, 1)
    assert fold((0, event("c", PERSON, 1000), 0))["closed"] is False  # type: ignore[index]


def test_an_older_event_after_a_newer_one_and_a_replay_change_nothing() -> None:
    state: dict[str, Any] = {}
    newer = change(VIEW, 0, event("u", {**PERSON, "name": "李四新"}, 2000), 7)
    older = change(VIEW, 0, event("c", PERSON, 1000), 3)
    assert apply(state, newer) is Outcome.NEWER
    held = json.dumps(state, default=str)
    assert apply(state, older) is Outcome.OLDER and apply(state, newer) is Outcome.SAME
    assert json.dumps(state, default=str) == held
    assert render(VIEW, ID, state)["name"] == "李四新"  # type: ignore[index]
    deleted = change(VIEW, 0, event("d", None, 3000, PERSON), 8)
    assert apply(state, deleted) is Outcome.NEWER and apply(state, newer) is Outcome.OLDER  # no resurrection
    assert render(VIEW, ID, state) is None


def test_an_event_without_a_row_or_key_is_refused() -> None:
    with pytest.raises(ValueError, match="names no row"):
        change(VIEW, 0, {"op": "d", "after": None, "before": None, "ts_ms": 1}, 0)
    with pytest.raises(ValueError, match="view's key"):
        change(VIEW, 0, event("c", {**PERSON, "id_number": ""}, 1), 0)


EVENTS = [
    (0, event("c", PERSON, 1000), 0),
    (0, event("u", {**PERSON, "name": "李四"}, 1500), 1),
    (1, event("c", BENEFIT, 1100), 0),
    (1, event("c", {**BENEFIT, "benefit_id": "B2"}, 1200), 1),
    (1, event("d", None, 1600, {**BENEFIT, "benefit_id": "B2"}), 2),
    (2, event("c", {"id_number": ID, "death_date": None}, 1700), 0),
]


@settings(max_examples=200, deadline=None)
@given(st.permutations(EVENTS), st.lists(st.sampled_from(EVENTS), max_size=6))
def test_any_order_and_any_replay_give_the_same_view(order: list[Any], replays: list[Any]) -> None:
    assert fold(*order, *replays) == fold(*EVENTS)


def test_state_survives_its_bytes() -> None:
    state: dict[str, Any] = {}
    for source, envelope, offset in EVENTS:
        apply(state, change(VIEW, source, envelope, offset))
    again = codec.decode(codec.encode(state))
    assert again == state and render(VIEW, ID, again) == render(VIEW, ID, state)
