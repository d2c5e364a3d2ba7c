"""Governance lint, masks and pseudonyms."""

import copy

import pytest

from civicbus.schemas import model
from civicbus.schemas.governance.lint import lint
from civicbus.schemas.governance.masking import MaskPolicy, mask, protect, pseudonym

KEY = b"0123456789abcdef-test-key"


def test_lint_names_the_field_and_the_missing_attribute() -> None:
    schema = copy.deepcopy(model.schema("Resident"))
    del schema["fields"][3]["share"]
    schema["fields"][1]["grade"] = "secret"
    schema["fields"][2]["sensitivity"] = ["shoe_size"]
    schema["fields"][0]["share"] = "unconditional"
    problems = lint(schema)
    assert "Resident.birth_date: missing governance attribute(s) share" in problems
    assert any(p.startswith("Resident.name: grade 'secret'") for p in problems)
    assert any(p.startswith("Resident.gender_code: sensitivity must be") for p in problems)
    assert "Resident.id_number: a direct identifier cannot be shared unconditionally" in problems


def test_lint_reaches_nested_records() -> None:
    schema = model.schema("ResidentProfile")
    registration = next(f for f in schema["fields"] if f["name"] == "registration")
    registration["type"][1]["fields"][0].pop("doc")
    assert any(p.startswith("Resident.id_number: missing") for p in lint(schema))


def test_default_masks_are_the_common_display_forms() -> None:
    assert mask("id_number", "11010519491231002X") == "110105********002X"
    assert mask("phone", "13812341234") == "138****1234"
    assert mask("name", "欧阳修") == "欧**"
    assert mask("address", "北京市朝阳区建外街道1号院") == "北京市朝阳区***"
    assert mask("birth_date", "1949-12-31") == "1949"
    assert mask("health", "高血压") == "***"
    assert mask("name", None) is None


def test_masks_are_configurable() -> None:
    policy = MaskPolicy(id_keep_prefix=3, id_keep_suffix=1, mask_char="#")
    assert mask("id_number", "11010519491231002X", policy) == "110##############X"


def test_pseudonyms_are_stable_keyed_and_separate_domains() -> None:
    a = pseudonym("11010519491231002X", KEY)
    assert a == pseudonym("11010519491231002X", KEY) and len(a) == 32
    assert a != pseudonym("11010519491231002X", KEY + b"!")
    assert a != pseudonym("11010519491231002X", KEY, kind="phone")
    assert "11010519491231002X" not in a
    with pytest.raises(ValueError, match="16 bytes"):
        pseudonym("x", b"short")


def test_protect_masks_or_pseudonymises_by_field_sensitivity() -> None:
    record = {
        "id_number": "11010519491231002X",
        "name": "王芳",
        "gender_code": "2",
        "address": "北京市朝阳区建外街道1号院",
        "division_code": "110105",
    }
    masked = protect(record, model.schema("Resident"))
    assert masked["id_number"] == "110105********002X" and masked["name"] == "王*"
    assert masked["division_code"] == "110105" and masked["gender_code"] == "2"
    joinable = protect(record, model.schema("Resident"), key=KEY)
    assert joinable["id_number"] == pseudonym("11010519491231002X", KEY)
