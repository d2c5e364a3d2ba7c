"""The registry's records in its compacted topic, and the state they replay to.

The topic holds Confluent Schema Registry's record kinds, keyed so compaction keeps exactly the
latest word on each thing:

- ``SCHEMA`` (subject, version) → the version's ID, schema text and references, ``deleted`` for a
  soft delete; a tombstone is a permanent delete.
- ``DELETE_SUBJECT`` (subject) → every version up to ``version`` is soft-deleted.
- ``CONFIG`` / ``MODE`` (subject, or none for the global one) → the compatibility level or the
  mode; a tombstone removes it.
- ``ID_RESERVED`` → the highest ID ever handed out, written before a permanent delete so that
  an ID whose last version is gone is still never handed out again (Confluent's registry can
  reuse such an ID after a restart; civicbus's cannot).

:meth:`State.apply` is the only code that changes a :class:`State`; replaying the topic from its
start through it always reproduces the registry that wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

GLOBAL = ""  # the subject key of global settings


@dataclass(frozen=True, order=True)
class Reference:
    """A named type the schema imports from another subject's version."""

    name: str
    subject: str
    version: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}

    @staticmethod
    def many(raw: object) -> tuple[Reference, ...]:
        """References from a request or record body; raises ValueError naming the bad one."""
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise ValueError("'references' must be a list")
        out = []
        for item in raw:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("name"), str)
                or not isinstance(item.get("subject"), str)
                or not isinstance(item.get("version"), int)
            ):
                raise ValueError(f"reference {item!r} needs a string name and subject and an integer version")
            out.append(Reference(item["name"], item["subject"], item["version"]))
        return tuple(out)


@dataclass(frozen=True)
class Stored:
    """A schema as stored under its ID: its text and the references it resolves names through."""

    text: str
    references: tuple[Reference, ...] = ()


@dataclass
class Version:
    subject: str
    version: int
    id: int
    deleted: bool = False


@dataclass
class State:
    schemas: dict[int, Stored] = field(default_factory=dict)
    ids: dict[Stored, int] = field(default_factory=dict)
    subjects: dict[str, dict[int, Version]] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    max_id: int = 0

    def apply(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        """Apply one record of the topic (``value`` None is a tombstone); unknown kinds are ignored."""
        kind = key.get("keytype")
        subject = key.get("subject") or GLOBAL
        if kind == "SCHEMA":
            self._schema(subject, int(key["version"]), value)
        elif kind == "DELETE_SUBJECT" and value is not None:
            for v in self.subjects.get(subject, {}).values():
                if v.version <= int(value["version"]):
                    v.deleted = True
        elif kind == "CONFIG":
            _put(self.config, subject, None if value is None else value["compatibilityLevel"])
        elif kind == "MODE":
            _put(self.modes, subject, None if value is None else value["mode"])
        elif kind == "ID_RESERVED" and value is not None:
            self.max_id = max(self.max_id, int(value["id"]))

    def _schema(self, subject: str, number: int, value: dict[str, Any] | None) -> None:
        versions = self.subjects.setdefault(subject, {})
        old = versions.pop(number, None)
        if value is not None:
            sid = int(value["id"])
            stored = Stored(value["schema"], Reference.many(value.get("references")))
            self.schemas[sid] = stored
            self.ids.setdefault(stored, sid)
            self.max_id = max(self.max_id, sid)
            versions[number] = Version(subject, number, sid, bool(value.get("deleted")))
        if not versions:
            del self.subjects[subject]
        if old is not None and not self.holders(old.id):
            stored = self.schemas.pop(old.id)
            if self.ids.get(stored) == old.id:
                del self.ids[stored]

    def holders(self, schema_id: int) -> list[Version]:
        """Every version (soft-deleted included) registered with ``schema_id``, by subject then version."""
        return [
            v for s in sorted(self.subjects) for _, v in sorted(self.subjects[s].items()) if v.id == schema_id
        ]


def schema_record(v: Version, stored: Stored) -> tuple[dict[str, Any], dict[str, Any]]:
    value: dict[str, Any] = {
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
        "schema": stored.text,
        "deleted": v.deleted,
    }
    if stored.references:
        value["references"] = [r.as_json() for r in stored.references]
    return schema_key(v.subject, v.version), value


def schema_key(subject: str, version: int) -> dict[str, Any]:
    return {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}


def setting_key(kind: str, subject: str) -> dict[str, Any]:
    return {"keytype": kind, "subject": subject or None, "magic": 0}


def encode(record: dict[str, Any] | None) -> bytes | None:
    return None if record is None else json.dumps(record, sort_keys=True, ensure_ascii=False).encode()


def _put(settings: dict[str, str], subject: str, value: str | None) -> None:
    if value is None:
        settings.pop(subject, None)
    else:
        settings[subject] = value
