"""Grant files: the shipped examples pass; every rule a grant can break is reported, all at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from civicbus.cli import main
from civicbus.share.grants import GrantError, load
from civicbus.streams.views.catalog import load_all

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "share" / "examples"
TODAY = dt.date(2026, 11, 28)
VIEWS = load_all()
DEATHS = next(v for v in VIEWS if v.name == "resident-profile").model_copy(
    update={"name": "deaths", "record": "DeathRegistration"}  # a record with a 不予共享 field
)


def grant(**changes: Any) -> dict[str, Any]:
    base = yaml.safe_load((EXAMPLES / "street-elderly-care.yaml").read_text(encoding="utf-8"))
    return {**base, **changes}


def check(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    path = tmp_path / "grant.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        load(path, [*VIEWS, DEATHS], TODAY)
    except GrantError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_the_shipped_grants_keep_every_rule(example: str) -> None:
    loaded = load(EXAMPLES / example, VIEWS, TODAY)
    assert loaded.views and loaded.expires > TODAY


def test_every_problem_of_a_grant_is_listed_at_once(tmp_path: Path) -> None:
    data = grant(
        expires="2026-01-31",
        views=[
            {
                "view": "household",
                "fields": [
                    "household_id",
                    "no_such_field",
                    {"name": "member_count", "as": "mask"},
                    "has_disability",
                ],
            },
            {"view": "deaths", "fields": ["cause_category"]},
            {"view": "hukou-raw", "fields": ["name"]},
            {
                "view": "resident-profile",
                "fields": [{"name": "name", "as": "pseudonym"}, "subsidies"],
            },
        ],
    )
    found = check(tmp_path, data)
    expected = [
        "expired on 2026-01-31",
        "household.no_such_field: no such field in HouseholdProfile",
        "household.member_count: not sensitive, shared as is",
        "deaths.cause_category: 不予共享 (never shared): it cannot be granted",
        "unknown view 'hukou-raw'",
        "household.has_disability: health (健康生理信息) has no display mask",
        "resident-profile.name: a pseudonym replaces identifiers only",
        "resident-profile.subsidies: a record, list or map holding personal information",
    ]
    for text in expected:
        assert any(text in p for p in found), (text, found)
    assert len(found) == len(expected), found


def test_conditional_fields_need_an_approval_dated_by_today(tmp_path: Path) -> None:
    unapproved = grant()
    del unapproved["approval"]
    (problem,) = check(tmp_path, unapproved)
    assert "household.household_id" in problem and "有条件共享" in problem and "approval" in problem
    early = grant(
        approval={"approver": "区数管局 李强", "date": "2026-12-01", "document": "京东数管〔2026〕30号"}
    )
    assert check(tmp_path, early) == ["approval dated 2026-12-01, after today (2026-11-28)"]
    plain = grant(views=[{"view": "household", "fields": ["division_code", "member_count"]}])
    del plain["approval"]
    assert check(tmp_path, plain) == [], "unconditional fields need no approval"


def test_a_malformed_grant_names_each_bad_key(tmp_path: Path) -> None:
    data = grant(app="Heping Care", expires="someday", views=[{"view": "household", "fields": []}], extra=1)
    found = check(tmp_path, data)
    for key in ("app", "expires", "views.0.fields", "extra"):
        assert any(p.startswith(f"{key}:") for p in found), (key, found)


def test_grants_validate_lists_every_file_and_exits_2_on_a_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(grant(expires="2020-01-01"), allow_unicode=True), encoding="utf-8")
    good = EXAMPLES / "hotline-12345.yaml"
    result = CliRunner().invoke(main, ["grants", "validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert f"{good}: ok — hotline-12345" in result.output
    assert f"{bad}: expired on 2020-01-01" in result.output
