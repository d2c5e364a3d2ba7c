"""Lint a canonical schema: every record and field documented, every field governed.

:func:`lint` returns the problems as ``record.field: what is wrong`` lines; an empty list means
the schema may be published. Nested records (inline definitions) are linted too.
"""

from __future__ import annotations

from typing import Any

from .attributes import GRADE, REQUIRED, SENSITIVITY, SHARE, UPDATE_CYCLE


def _records(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "record":
            found.append(node)
            for field in node.get("fields", []):
                found += _records(field.get("type"))
        else:
            for key in ("type", "items", "values"):
                found += _records(node.get(key))
    elif isinstance(node, list):
        for branch in node:
            found += _records(branch)
    return found


def lint(schema: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for record in _records(schema):
        name = record["name"]
        if not str(record.get("doc", "")).strip():
            problems.append(f"{name}: record has no doc")
        for field in record.get("fields", []):
            where = f"{name}.{field['name']}"
            missing = [a for a in REQUIRED if a not in field]
            if missing:
                problems.append(f"{where}: missing governance attribute(s) {', '.join(missing)}")
                continue
            if not str(field["doc"]).strip():
                problems.append(f"{where}: empty doc")
            if field["share"] not in SHARE:
                problems.append(f"{where}: share {field['share']!r} is not one of {sorted(SHARE)}")
            if field["grade"] not in GRADE:
                problems.append(f"{where}: grade {field['grade']!r} is not one of {sorted(GRADE)}")
            if field["update_cycle"] not in UPDATE_CYCLE:
                problems.append(
                    f"{where}: update_cycle {field['update_cycle']!r} is not one of {sorted(UPDATE_CYCLE)}"
                )
            kinds = field["sensitivity"]
            if not isinstance(kinds, list) or any(k not in SENSITIVITY for k in kinds):
                problems.append(f"{where}: sensitivity must be a list of {sorted(SENSITIVITY)}")
            if not str(field["owner"]).strip():
                problems.append(f"{where}: empty owner")
            if field["share"] == "unconditional" and {"id_number", "name", "phone"} & set(kinds or []):
                problems.append(f"{where}: a direct identifier cannot be shared unconditionally")
    return problems
