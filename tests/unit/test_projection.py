"""Projections: only granted fields leave, sensitive ones never in plain text, and the derived
schema encodes what the projection makes; pseudonyms join within an app, not across apps."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import fastavro
import pytest

from civicbus.share.grants import load
from civicbus.share.projection import Projection, app_key, projections
from civicbus.share.refusals import RefusalLog, parse
from civicbus.streams.views.catalog import load_all

from ..share_setup import household as view_record

ROOT = Path(__file__).resolve().parents[2]
VIEWS = {v.name: v for v in load_all()}
MASTER = b"m" * 32
HEAD = "110105195003011234"
ADDRESS = "北京市东城区和平里街道和平里七区3号楼2单元501"


def household(**changes: Any) -> dict[str, Any]:
    """The sharing tests' household, with a recognisable head ID and address."""
    return {**view_record("H0001"), "address": ADDRESS, "head_id_number": HEAD, **changes}


def elderly_care(app: str | None = None) -> Projection:
    grant = load(
        ROOT / "share" / "examples" / "street-elderly-care.yaml", VIEWS.values(), dt.date(2026, 11, 28)
    )
    if app is not None:
        grant = grant.model_copy(update={"app": app})
    return projections(grant, VIEWS, MASTER)[0]


def test_only_granted_fields_leave_and_sensitive_ones_are_protected() -> None:
    projection = elderly_care()
    out = projection.record(household())
    assert list(out) == [
        "household_id",
        "division_code",
        "address",
        "head_id_number",
        "member_count",
        "elderly_alone",
    ]
    assert out["address"] == "北京市东城区***"
    assert out["head_id_number"] != HEAD and len(out["head_id_number"]) == 32
    assert HEAD not in str(out) and ADDRESS not in str(out)
    assert out["member_count"] == 1 and out["elderly_alone"] is True
    assert projection.key("H0001") == "H0001"  # the key field is granted and not sensitive


def test_the_derived_schema_encodes_the_projected_record() -> None:
    projection = elderly_care()
    parsed = fastavro.parse_schema(projection.schema)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, projection.record(household(address=None)))
    buffer.seek(0)
    back = fastavro.schemaless_reader(buffer, parsed, None)
    assert back["address"] is None and back["household_id"] == "H0001"
    treatments = {f["name"]: f["treatment"] for f in projection.schema["fields"]}
    assert treatments["address"] == "mask" and treatments["head_id_number"] == "pseudonym"
    assert all(f["default"] is None and f["type"][0] == "null" for f in projection.schema["fields"])


def test_pseudonyms_join_within_an_app_and_not_across_apps() -> None:
    one, again, other = elderly_care(), elderly_care(), elderly_care("another-app")
    assert one.record(household())["head_id_number"] == again.record(household())["head_id_number"]
    assert one.record(household())["head_id_number"] != other.record(household())["head_id_number"]
    assert app_key(MASTER, "a") != app_key(MASTER, "b")
    with pytest.raises(ValueError, match="32 bytes"):
        app_key(b"short", "a")


def test_a_sensitive_key_leaves_as_the_apps_pseudonym(tmp_path: Path) -> None:
    text = """app: resident-app
organisation: 某街道办事处
purpose: 测试用途说明
legal_basis: 某条例第一条
contact: 张三
expires: 2027-01-01
approval: {approver: 李强, date: 2026-11-20, document: 京数管〔2026〕1号}
views:
  - view: resident-profile
    fields: [{name: name, as: mask}, age, {name: birth_date, as: mask}, gender_code]
"""
    path = tmp_path / "g.yaml"
    path.write_text(text, encoding="utf-8")
    grant = load(path, VIEWS.values(), dt.date(2026, 11, 28))
    projection = projections(grant, VIEWS, MASTER)[0]
    out = projection.record(
        {"id_number": HEAD, "name": "王小明", "age": 76, "birth_date": -7246, "gender_code": "1"}
    )
    assert out == {"name": "王**", "gender_code": "1", "birth_date": "1950", "age": "70-79"}
    assert projection.key(HEAD) != HEAD and len(projection.key(HEAD)) == 32


def test_an_authorizer_log_line_becomes_a_refusal(tmp_path: Path) -> None:
    line = (
        "[2026-11-28T10:43:31,207] INFO Principal = User:nosy-app is Denied operation = DESCRIBE from host "
        "= 127.0.0.1 on resource = Topic:LITERAL:civicbus.view.household for request = Metadata with "
        "resourceRefCount = 1 based on rule DefaultDeny"
    )
    event = parse(line)
    assert event is not None and event.app == "nosy-app" and event.kind == "access.refused"
    assert event.what == "DESCRIBE topic civicbus.view.household"
    assert parse("[2026-11-28T10:43:31,207] INFO something else") is None
    kafkas_own = line.replace("T10:", " 10:") + " (kafka.authorizer.logger)"  # Kafka's default pattern
    assert parse(kafkas_own) == event
    log = tmp_path / "kafka-authorizer.log"
    log.write_text(f"{line}\n{line}\n{line[:40]}", encoding="utf-8")  # the last line is still being written
    refusals = RefusalLog(log, tmp_path / "offset")
    (first,) = refusals.read()
    assert first.details["count"] == 2
    refusals.commit()
    assert refusals.read() == []
    refusals.commit()
    with log.open("a", encoding="utf-8") as f:
        f.write(line[40:] + "\n")
    (rest,) = RefusalLog(log, tmp_path / "offset").read()  # a restarted reader goes on from the offset
    assert rest.details["count"] == 1


def test_the_service_sorts_grant_files_into_in_force_expired_and_refused(tmp_path: Path) -> None:
    from civicbus.share.service import read_grants

    example = (ROOT / "share" / "examples" / "street-elderly-care.yaml").read_text(encoding="utf-8")
    (tmp_path / "good.yaml").write_text(example, encoding="utf-8")
    (tmp_path / "old.yaml").write_text(
        example.replace("heping-elderly-care", "old-app").replace("2027-06-30", "2026-11-01"),
        encoding="utf-8",
    )
    (tmp_path / "bad.yaml").write_text(
        example.replace("heping-elderly-care", "bad-app").replace("- member_count", "- nope"),
        encoding="utf-8",
    )
    (tmp_path / "twin-1.yaml").write_text(
        example.replace("heping-elderly-care", "twin-app"), encoding="utf-8"
    )
    (tmp_path / "twin-2.yaml").write_text(
        example.replace("heping-elderly-care", "twin-app"), encoding="utf-8"
    )
    (tmp_path / "broken.yaml").write_text("app: [", encoding="utf-8")
    reading = read_grants(tmp_path, list(VIEWS.values()), dt.date(2026, 11, 28))
    assert list(reading.in_force) == ["heping-elderly-care"]
    assert list(reading.expired) == ["old-app"]
    refused = {Path(k).name: v for k, v in reading.invalid.items()}
    assert set(refused) == {"bad.yaml", "twin-1.yaml", "twin-2.yaml", "broken.yaml"}
    assert any("nope" in p for p in refused["bad.yaml"])
    assert any("granted in 2 files" in p for p in refused["twin-1.yaml"])
