"""``civicbus schemas check`` fails on a breaking change and names it; passes an additive one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from civicbus.schemas import model
from civicbus.schemas.registry_client import RegistryClient

from ..helpers import ROOT, unique

pytestmark = pytest.mark.integration
GOV = {
    "share": "conditional",
    "sensitivity": [],
    "grade": "general",
    "owner": "公安",
    "update_cycle": "realtime",
    "doc": "测试 / test",
}


def civicbus(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicbus", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        cwd=ROOT,
    )


def edit(folder: Path, file: str, change: Any) -> None:
    path = folder / file
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def add_required(doc: dict[str, Any]) -> None:
    doc["fields"].append({"name": "nickname", "type": "string", **GOV})


def add_optional(doc: dict[str, Any]) -> None:
    doc["fields"].append({"name": "nickname", "type": ["null", "string"], "default": None, **GOV})


def narrow(doc: dict[str, Any]) -> None:
    next(f for f in doc["fields"] if f["name"] == "read_at")["type"] = "int"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas" / "avro", folder)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "schemas"], check=True)
    return folder


def test_git_mode_names_the_breaking_field_and_rule(repo: Path) -> None:
    assert civicbus("schemas", "check", "--dir", str(repo), "--no-registry").returncode == 0
    edit(repo, "resident.avsc", add_required)
    edit(repo, "meter_reading.avsc", narrow)
    result = civicbus("schemas", "check", "--dir", str(repo), "--no-registry")
    assert result.returncode == 1
    assert "civicbus.resident.Resident" in result.stdout and "nickname" in result.stdout
    assert "reader_field_missing_default_value" in result.stdout
    assert "civicbus.utility.MeterReading" in result.stdout and "type_mismatch" in result.stdout
    # the profile embeds Resident: it breaks too, and says so
    assert "civicbus.views.ResidentProfile" in result.stdout


def test_git_mode_passes_an_additive_change_with_default(repo: Path) -> None:
    edit(repo, "resident.avsc", add_optional)
    result = civicbus("schemas", "check", "--dir", str(repo), "--no-registry")
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_failure_stops_the_check(repo: Path) -> None:
    edit(repo, "subsidy.avsc", lambda d: d["fields"][0].pop("share"))
    result = civicbus("schemas", "check", "--dir", str(repo), "--no-registry")
    assert (
        result.returncode == 1
        and "Subsidy.subsidy_id: missing governance attribute(s) share" in result.stdout
    )


def test_registry_mode_uses_the_registered_versions(repo: Path, registry_url: str) -> None:
    subject = unique("check") + "-value"
    RegistryClient(registry_url).register(subject, model.envelope("Resident"))
    env = {"CIVICBUS_REGISTRY_URL": registry_url}
    edit(repo, "resident.avsc", add_optional)
    ok = civicbus("schemas", "check", "--dir", str(repo), env=env)
    assert ok.returncode == 0 and f"registry {registry_url}" in ok.stderr, ok.stdout + ok.stderr
    edit(repo, "resident.avsc", lambda d: d["fields"].pop())
    edit(repo, "resident.avsc", add_required)
    broken = civicbus("schemas", "check", "--dir", str(repo), env=env)
    assert broken.returncode == 1
    assert any(subject in line and "nickname" in line for line in broken.stdout.splitlines()), broken.stdout[
        :1500
    ]


def test_check_command_prints_normal_forms_and_fails_on_invalid() -> None:
    good = civicbus("check", "id-number", "11010519491231002x", "110105491231002")
    assert good.returncode == 0
    assert good.stdout.splitlines() == [
        "11010519491231002x\t11010519491231002X",
        "110105491231002\t11010519491231002X",
    ]
    bad = civicbus("check", "uscc", "91110000600037341L", "91110000600037341X")
    assert bad.returncode == 1 and "invalid: check character is X, expected L" in bad.stdout
    retired = civicbus("check", "division", "110103")
    assert "崇文区" in retired.stdout and "successor 110101" in retired.stdout
    assert civicbus("check", "phone", "138-0013-8000").stdout.strip().endswith("13800138000")


def test_catalog_lists_every_topic_and_field(tmp_path: Path) -> None:
    result = civicbus("schemas", "catalog", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "catalog.md").read_text(encoding="utf-8")
    html = (tmp_path / "catalog.html").read_text(encoding="utf-8")
    published = (
        "civicbus.gongan.resident",
        "civicbus.minzheng.subsidy",
        "civicbus.weijian.death",
        "civicbus.scjg.enterprise",
        "civicbus.yingji.inspection",
        "civicbus.view.resident-profile",
        "civicbus.view.household",
        "civicbus.view.enterprise",
    )
    for topic in published:
        assert f"`{topic}`" in md and topic in html
    for name in (
        "Resident",
        "Subsidy",
        "ResidentProfile",
        "HouseholdProfile",
        "EnterpriseProfile",
        "Inspection",
    ):
        for field in model.schema(name)["fields"]:
            assert f"`{field['name']}`" in md
    for unpublished in ("ServiceTicket", "MeterReading", "Household", "Address"):
        assert unpublished in md and unpublished in html
    assert "有条件共享" in html and "重要数据" in html and "<script" not in html


def test_git_mode_catches_a_breaking_change_already_committed_on_a_branch(repo: Path) -> None:
    git = ["git", "-C", str(repo.parent), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "branch", "-M", "main"], check=True)
    subprocess.run([*git, "checkout", "-qb", "feature"], check=True)
    edit(repo, "resident.avsc", add_required)
    subprocess.run([*git, "commit", "-qam", "a breaking change"], check=True)
    result = civicbus("schemas", "check", "--dir", str(repo), "--no-registry")
    assert result.returncode == 1 and "nickname" in result.stdout, result.stdout + result.stderr


def test_an_unknown_revision_and_an_unreachable_registry_are_errors_not_passes(repo: Path) -> None:
    bad_ref = civicbus("schemas", "check", "--dir", str(repo), "--no-registry", "--against", "no-such-ref")
    assert bad_ref.returncode == 2 and "'no-such-ref' is not a git revision" in bad_ref.stderr
    away = civicbus(
        "schemas", "check", "--dir", str(repo), env={"CIVICBUS_REGISTRY_URL": "http://127.0.0.1:9"}
    )
    assert away.returncode == 2 and "does not answer" in away.stderr and "--no-registry" in away.stderr
