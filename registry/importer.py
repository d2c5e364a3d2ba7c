"""Copy a Confluent-compatible registry (Confluent's, Karapace, another civicbus) into civicbus's.

:func:`import_registry` keeps every ID and version number, so messages already written with the
source's IDs decode through the target. It is safe to run again after a failure: what the target
already holds identically is skipped. Its steps:

1. read every subject and version from the source, soft-deleted ones included (their IDs may
   still be in old messages), and the subject-level compatibility levels;
2. check the target: an ID or a subject version it holds with a different schema is a conflict,
   and every conflict is reported before anything is written;
3. put the target in IMPORT mode, register each version with its ID and version, referenced
   schemas before the schemas that reference them, soft-delete what the source had deleted, copy
   the levels, and put the target's mode back as it was, even after a failure;
4. verify that every ID resolves to the same schema and references in both, and that every
   subject version has the same ID and deleted state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import structlog

from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.registry_errors import RegistryError

log = structlog.get_logger(__name__)


class ImportRefused(Exception):
    """The import cannot keep IDs; ``problems`` lists every reason, nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Entry:
    """One subject version as the source serves it."""

    subject: str
    version: int
    id: int
    schema: str
    references: tuple[tuple[str, str, int], ...]
    deleted: bool

    def body(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "schemaType": "AVRO",
            "references": [{"name": n, "subject": s, "version": v} for n, s, v in self.references],
            "id": self.id,
            "version": self.version,
        }


@dataclass
class Report:
    subjects: int = 0
    versions: int = 0
    ids: int = 0
    imported: int = 0
    already_there: int = 0
    soft_deleted: int = 0
    levels: int = 0
    mismatches: list[str] = field(default_factory=list)


def import_registry(source: RegistryClient, target: RegistryClient) -> Report:
    """Copy ``source`` into ``target`` keeping IDs; raises ImportRefused before writing if it cannot."""
    entries, levels, unreadable = _read(source)
    present, problems = _check(target, entries)
    problems = unreadable + problems
    if problems:
        raise ImportRefused(problems)
    ordered = _ordered(entries)
    report = Report(
        subjects=len({e.subject for e in entries}), versions=len(entries), ids=len({e.id for e in entries})
    )
    before = target.request("GET", "/mode")["mode"]
    target.request("PUT", "/mode?force=true", {"mode": "IMPORT"})
    try:
        for entry in ordered:
            if (entry.subject, entry.version) in present:
                report.already_there += 1
                continue
            target.request("POST", f"/subjects/{_q(entry.subject)}/versions", entry.body())
            report.imported += 1
            if entry.deleted:
                target.request("DELETE", f"/subjects/{_q(entry.subject)}/versions/{entry.version}")
                report.soft_deleted += 1
        for subject, level in sorted(levels.items()):
            target.request("PUT", f"/config/{_q(subject)}", {"compatibility": level})
            report.levels += 1
    finally:
        target.request("PUT", "/mode?force=true", {"mode": before})
    report.mismatches = _verify(source, target, entries)
    log.info("registry.imported", **{k: v for k, v in vars(report).items() if k != "mismatches"})
    return report


def _q(subject: str) -> str:
    return quote(subject, safe="")


def _read(source: RegistryClient) -> tuple[list[Entry], dict[str, str], list[str]]:
    """Every version (soft-deleted included), the subject-level levels, and what cannot be imported."""
    entries: list[Entry] = []
    levels: dict[str, str] = {}
    problems: list[str] = []
    for subject in source.request("GET", "/subjects?deleted=true"):
        path = f"/subjects/{_q(subject)}"
        live = _live(source, subject)
        for number in source.request("GET", f"{path}/versions?deleted=true"):
            body = source.request("GET", f"{path}/versions/{number}?deleted=true")
            if (body.get("schemaType") or "AVRO") != "AVRO":
                problems.append(f"{subject} v{number} is {body['schemaType']}; civicbus serves Avro only")
                continue
            entries.append(
                Entry(subject, int(number), int(body["id"]), body["schema"], _refs(body), number not in live)
            )
        level = _get(source, f"/config/{_q(subject)}", RegistryError.SUBJECT_CONFIG_NOT_FOUND)
        if level is not None:
            levels[subject] = level["compatibilityLevel"]
    return entries, levels, problems


def _get(registry: RegistryClient, path: str, *absent: int) -> Any:
    """GET ``path``, or None when the registry answers one of the ``absent`` error codes."""
    try:
        return registry.request("GET", path)
    except RegistryError as exc:
        if exc.code in absent:
            return None
        raise


def _refs(served: dict[str, Any]) -> tuple[tuple[str, str, int], ...]:
    return tuple((r["name"], r["subject"], int(r["version"])) for r in served.get("references") or [])


def _check(target: RegistryClient, entries: list[Entry]) -> tuple[set[tuple[str, int]], list[str]]:
    """Subject versions the target already holds identically, and every conflict."""
    present: set[tuple[str, int]] = set()
    problems: list[str] = []
    for e in entries:
        held = _get(target, f"/schemas/ids/{e.id}", RegistryError.SCHEMA_NOT_FOUND)
        if held is not None and not _same(held, e.schema, e.references):
            problems.append(f"ID {e.id} is another schema in the target (source: {e.subject} v{e.version})")
        there = _version(target, e)
        if there is not None and int(there["id"]) == e.id:
            present.add((e.subject, e.version))
        elif there is not None:
            problems.append(
                f"{e.subject} v{e.version} is ID {there['id']} in the target, ID {e.id} in the source"
            )
    return present, problems


def _version(registry: RegistryClient, e: Entry) -> dict[str, Any] | None:
    """The registry's version of ``e``, soft-deleted or not; None if it has none."""
    path = f"/subjects/{_q(e.subject)}/versions/{e.version}?deleted=true"
    found: dict[str, Any] | None = _get(
        registry, path, RegistryError.SUBJECT_NOT_FOUND, RegistryError.VERSION_NOT_FOUND
    )
    return found


def _ordered(entries: list[Entry]) -> list[Entry]:
    """``entries`` with every referenced version before the versions that reference it."""
    done: set[tuple[str, int]] = set()
    left = list(entries)
    out: list[Entry] = []
    while left:
        ready = [e for e in left if all((s, v) in done for _, s, v in e.references)]
        if not ready:
            missing = sorted({f"{s} v{v}" for e in left for _, s, v in e.references if (s, v) not in done})
            raise ImportRefused([f"references to versions the source does not have: {', '.join(missing)}"])
        for e in ready:
            done.add((e.subject, e.version))
            out.append(e)
        left = [e for e in left if (e.subject, e.version) not in done]
    return out


def _same(served: dict[str, Any], schema: str, references: tuple[tuple[str, str, int], ...]) -> bool:
    return bool(json.loads(served["schema"]) == json.loads(schema) and _refs(served) == references)


def _live(registry: RegistryClient, subject: str) -> set[int]:
    """The subject's versions that are not soft-deleted (none when all are)."""
    return set(_get(registry, f"/subjects/{_q(subject)}/versions", RegistryError.SUBJECT_NOT_FOUND) or [])


def _verify(source: RegistryClient, target: RegistryClient, entries: list[Entry]) -> list[str]:
    mismatches = []
    for sid in sorted({e.id for e in entries}):
        theirs = source.request("GET", f"/schemas/ids/{sid}")
        ours = _get(target, f"/schemas/ids/{sid}", RegistryError.SCHEMA_NOT_FOUND)
        if ours is None or not _same(ours, theirs["schema"], _refs(theirs)):
            mismatches.append(f"ID {sid} does not resolve to the source's schema")
    live = {s: _live(target, s) for s in {e.subject for e in entries}}
    for e in entries:
        there = _version(target, e)
        if there is None or int(there["id"]) != e.id or (e.version not in live[e.subject]) != e.deleted:
            mismatches.append(f"{e.subject} v{e.version} differs from the source")
    return mismatches
