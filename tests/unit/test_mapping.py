import datetime as dt
import decimal

import pytest

from civicbus.connectors.config import FieldRule
from civicbus.connectors.mapping import Mapper, MappingError
from civicbus.schemas import model

SUBSIDY_RULES = {
    "subsidy_id": FieldRule(column="id"),
    "id_number": FieldRule(column="sfzh", transform="id_number"),
    "name": FieldRule(column="xm", transform="strip"),
    "gender_code": FieldRule(column="xb", transform="gender"),
    "birth_date": FieldRule(column="csrq"),
    "kind": FieldRule(column="jzlb", codes={"低保": "DIBAO", "特困": "TEKUN"}),
    "monthly_amount": FieldRule(column="yffje"),
    "status": FieldRule(const="ACTIVE"),
}
ROW = {
    "id": 7,
    "sfzh": "11010519491231002x",
    "xm": " 王芳 ",
    "xb": "女",
    "csrq": "1949年12月31日",
    "jzlb": "低保",
    "yffje": "1,395.5",
}


def mapper() -> Mapper:
    return Mapper(SUBSIDY_RULES, model.schema("Subsidy"))


def test_legacy_row_becomes_canonical_record() -> None:
    rec, flags = mapper()(ROW)
    assert flags == []
    assert rec == {
        "subsidy_id": "7",
        "id_number": "11010519491231002X",
        "name": "王芳",
        "gender_code": "2",
        "birth_date": dt.date(1949, 12, 31),
        "kind": "DIBAO",
        "monthly_amount": decimal.Decimal("1395.50"),
        "status": "ACTIVE",
    }


@pytest.mark.parametrize(
    "change,field,reason",
    [
        ({"sfzh": None}, "id_number", "required"),
        ({"sfzh": "  "}, "id_number", "required"),
        ({"sfzh": "110105194912310021"}, "id_number", "check character"),
        ({"jzlb": "五保"}, "kind", "code table"),
        ({"yffje": "a lot"}, "monthly_amount", "not a decimal"),
        ({"yffje": "123456789.00"}, "monthly_amount", "precision"),
        ({"csrq": "1949-02-30"}, "birth_date", "not a real date"),
    ],
)
def test_bad_values_name_field_and_reason(change: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(MappingError) as err:
        mapper()({**ROW, **change})
    assert err.value.field == field
    assert reason in err.value.reason


def test_flag_policy_nulls_the_field_and_reports_it() -> None:
    rules = {**SUBSIDY_RULES, "birth_date": FieldRule(column="csrq", on_invalid="flag")}
    rec, flags = Mapper(rules, model.schema("Subsidy"))({**ROW, "csrq": "1949-02-30"})
    assert rec["birth_date"] is None and rec["id_number"] == "11010519491231002X"
    assert flags == ["birth_date: '1949-02-30' is not a real date"]
    with pytest.raises(ValueError, match="flag needs a nullable field"):
        Mapper(
            {**SUBSIDY_RULES, "kind": FieldRule(column="jzlb", on_invalid="flag")}, model.schema("Subsidy")
        )


def test_rules_are_checked_against_the_schema_at_build_time() -> None:
    rules = dict(SUBSIDY_RULES)
    del rules["kind"]
    rules["nickname"] = FieldRule(column="x")
    rules["name"] = FieldRule(column="xm", transform="soundex")
    with pytest.raises(ValueError) as err:
        Mapper(rules, model.schema("Subsidy"))
    text = str(err.value)
    assert "mapping.nickname: no such field" in text
    assert "mapping.kind: required" in text
    assert "unknown transform 'soundex'" in text


def test_blank_missing_and_flagged_values_per_field() -> None:
    """Each rule's path on its own: a blank constant or a column absent from the row is null
    where the field allows it; a flagged code-table miss nulls only its field; the record keeps
    the schema's field order; a mapper's rows never share state."""
    rules = {
        **SUBSIDY_RULES,
        "name": FieldRule(const="  "),
        "gender_code": FieldRule(column="xb", codes={"男": "1"}, on_invalid="flag"),
        "start_date": FieldRule(column="not_in_row"),
    }
    m = Mapper(rules, model.schema("Subsidy"))
    rec, flags = m(ROW)
    assert rec["name"] is None and rec["gender_code"] is None and rec["start_date"] is None
    assert flags == ["gender_code: '女' is not in the code table"]
    assert list(rec) == [f["name"] for f in model.schema("Subsidy")["fields"]]
    again, again_flags = m({**ROW, "xb": "男"})
    assert again["gender_code"] == "1" and again_flags == [] and flags != again_flags


@pytest.mark.parametrize(
    "change", [{}, {"sfzh": None}, {"jzlb": "五保"}, {"csrq": "1949-02-30"}, {"xm": "  "}, {"yffje": "x"}]
)
def test_values_in_column_order_map_as_their_row_does(change: dict[str, object]) -> None:
    m = Mapper(
        {**SUBSIDY_RULES, "birth_date": FieldRule(column="csrq", on_invalid="flag")}, model.schema("Subsidy")
    )
    row = {**ROW, **change}

    def outcome(mapping: object, given: object) -> object:
        try:
            return mapping(given)  # type: ignore[operator]
        except MappingError as exc:
            return (exc.field, exc.reason)

    assert outcome(m.values, tuple(row[c] for c in m.columns)) == outcome(m, row)
