"""The registry's rules: registration, lookups, deletes, compatibility levels and modes.

State lives in a :class:`~civicbus.registry.log.RecordLog` (a compacted Kafka topic): on start,
:meth:`SchemaStore.load` replays it before anything is served, and every change is appended and
acknowledged before it is applied, so a restart reproduces the same subjects, versions, IDs,
deletes, levels and modes. IDs are never handed out twice, even after a permanent delete.

The rules are Confluent Schema Registry's, with its error codes: a soft delete hides a version
(still readable by ID and with ``deleted=true``), a permanent delete needs a soft delete first
and removes it; READONLY refuses writes; IMPORT accepts a registration only with its ID (and
optionally its version) and skips compatibility, which is how a migration keeps IDs.

One registry process writes to a topic at a time (the single-writer rule Confluent's registry
enforces by leader election); run more replicas only behind a read-only proxy.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Literal, get_args

import avro.schema
import structlog

from civicbus.ops import metrics
from civicbus.schemas.compat import MODES as LEVELS
from civicbus.schemas.compat import check
from civicbus.schemas.registry_errors import RegistryError

from .log import RecordLog
from .parsing import identity, normalized, parse
from .records import GLOBAL, Reference, State, Stored, Version, encode, schema_key, schema_record, setting_key

log = structlog.get_logger(__name__)
Mode = Literal["READWRITE", "READONLY", "IMPORT"]
MODES: tuple[str, ...] = get_args(Mode)
E = RegistryError


class SchemaStore:
    """Subjects, versions, IDs, levels and modes; reads from any thread, writes serialized."""

    def __init__(self, records: RecordLog, default_level: str = "BACKWARD") -> None:
        self._log = records
        self._default_level = default_level
        self._state = State()
        self._lock = threading.Lock()
        self._normal: dict[int, str] = {}

    # --- lifecycle ---------------------------------------------------------------------------
    def load(self) -> None:
        """Replay every stored record; call once before serving."""
        count = 0
        for key, value in self._log.replay():
            if key is not None:
                self._state.apply(json.loads(key), json.loads(value) if value is not None else None)
                count += 1
        metrics.REGISTRY_SCHEMAS.set(len(self._state.schemas))
        log.info(
            "registry.loaded",
            records=count,
            schemas=len(self._state.schemas),
            subjects=len(self._state.subjects),
        )

    def close(self) -> None:
        self._log.close()

    def _write(self, key: dict[str, object], value: dict[str, object] | None) -> None:
        raw_key = encode(key)
        assert raw_key is not None
        self._log.append(raw_key, encode(value))
        self._state.apply(key, value)
        metrics.REGISTRY_SCHEMAS.set(len(self._state.schemas))

    # --- reads ---------------------------------------------------------------------------------
    def subjects(self, deleted: bool = False, deleted_only: bool = False, prefix: str = "") -> list[str]:
        """Subjects with a live version; with ``deleted`` any version, with ``deleted_only`` a deleted one."""
        out = []
        for subject, versions in self._state.subjects.items():
            flags = [v.deleted for v in versions.values()]
            if (deleted_only and any(flags)) or (not deleted_only and (deleted or not all(flags))):
                out.append(subject)
        return sorted(s for s in out if s.startswith(prefix))

    def versions(self, subject: str, deleted: bool = False, deleted_only: bool = False) -> list[Version]:
        """The subject's versions, oldest first; 40401 if it has none to show."""
        every = sorted(self._state.subjects.get(subject, {}).values(), key=lambda v: v.version)
        if not [v for v in every if deleted or deleted_only or not v.deleted]:
            raise E(E.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
        if deleted_only:
            return [v for v in every if v.deleted]
        return [v for v in every if deleted or not v.deleted]

    def version(self, subject: str, version: str | int, deleted: bool = False) -> Version:
        """One version by number, or ``latest``/-1 (the newest live one)."""
        number = _number(version)
        shown = self.versions(subject, deleted)
        if number == -1:
            live = [v for v in shown if not v.deleted]
            if live:
                return live[-1]
        for v in shown:
            if v.version == number:
                return v
        raise E(E.VERSION_NOT_FOUND, f"Version {version} not found.")

    def schema(self, schema_id: int) -> Stored:
        """The schema registered as ``schema_id`` while any version, even soft-deleted, holds it."""
        try:
            return self._state.schemas[schema_id]
        except KeyError:
            raise E(E.SCHEMA_NOT_FOUND, f"Schema {schema_id} not found") from None

    def holders(self, schema_id: int, deleted: bool = False) -> list[Version]:
        self.schema(schema_id)
        return [v for v in self._state.holders(schema_id) if deleted or not v.deleted]

    def referenced_by(self, subject: str, version: str | int, deleted: bool = False) -> list[int]:
        """IDs of the schemas that import ``subject``'s ``version`` through a reference."""
        v = self.version(subject, version, deleted=True)
        return sorted({h.id for h in self._referrers(subject, v.version, deleted)})

    def lookup(self, subject: str, schema: Stored, normalize: bool = False, deleted: bool = False) -> Version:
        """The version of ``subject`` holding ``schema``; 40401 or 40403 if none."""
        candidate = self._candidate(schema, normalize)
        for v in reversed(self.versions(subject, deleted)):
            if self._same(v.id, candidate, normalize):
                return v
        raise E(E.SCHEMA_NOT_FOUND, "Schema not found")

    def level(self, subject: str | None = None, fallback: bool = True) -> str:
        """The compatibility level of ``subject`` (or the global one); 40408 if unset without fallback."""
        if subject and subject in self._state.config:
            return self._state.config[subject]
        if subject and not fallback:
            raise E(
                E.SUBJECT_CONFIG_NOT_FOUND,
                f"Subject '{subject}' does not have subject-level compatibility configured",
            )
        return self._state.config.get(GLOBAL, self._default_level)

    def mode(self, subject: str | None = None, fallback: bool = True) -> str:
        """The mode of ``subject`` (or the global one); 40409 if unset without fallback."""
        if subject and subject in self._state.modes:
            return self._state.modes[subject]
        if subject and not fallback:
            raise E(
                E.SUBJECT_MODE_NOT_FOUND, f"Subject '{subject}' does not have subject-level mode configured"
            )
        return self._state.modes.get(GLOBAL, "READWRITE")

    def compatibility(
        self, subject: str, schema: Stored, version: str = "latest", normalize: bool = False
    ) -> list[str]:
        """Problems registering ``schema`` under ``subject`` would meet; [] if none.

        Against ``latest`` the check is the one registration makes (the latest version, or all
        under a ``_TRANSITIVE`` level); against a version number, that version alone.
        """
        candidate = self._candidate(schema, normalize)
        parsed = parse(candidate, self._resolve)
        live = self.versions(subject)
        level = self.level(subject)
        if _number(version) != -1 and not level.endswith("_TRANSITIVE"):
            live = [self.version(subject, version)]
        return check(parsed, self._parsed(live), level)

    # --- writes --------------------------------------------------------------------------------
    def register(
        self,
        subject: str,
        schema: Stored,
        normalize: bool = False,
        schema_id: int | None = None,
        version: int | None = None,
    ) -> Version:
        """Register ``schema`` under ``subject``; the existing version if it is already there.

        ``schema_id`` (and ``version``) are accepted only in IMPORT mode, which also skips the
        compatibility check; without them the subject must be in READWRITE mode.
        """
        mode = self.mode(subject)
        if mode == "READONLY":
            raise E(E.NOT_PERMITTED, f"Subject {subject} is in read-only mode")
        if schema_id is not None and mode != "IMPORT":
            raise E(E.NOT_PERMITTED, f"Subject {subject} is not in import mode")
        if schema_id is None and mode != "READWRITE":
            raise E(E.NOT_PERMITTED, f"Subject {subject} is not in read-write mode")
        candidate = self._candidate(schema, normalize)
        parsed = parse(candidate, self._resolve)
        with self._lock:
            st = self._state
            every = st.subjects.get(subject, {})
            live = sorted((v for v in every.values() if not v.deleted), key=lambda v: v.version)
            for v in reversed(live):
                if (
                    self._same(v.id, candidate, normalize)
                    and schema_id in (None, v.id)
                    and version in (None, v.version)
                ):
                    return v
            if schema_id is None:
                problems = check(parsed, self._parsed(live), self.level(subject))
                if problems:
                    raise E(
                        E.INCOMPATIBLE,
                        "Schema being registered is incompatible with an earlier schema for subject "
                        f"'{subject}', details: {'; '.join(problems)}",
                    )
                schema_id = self._known_id(candidate, normalize) or st.max_id + 1
            elif schema_id in st.schemas and st.schemas[schema_id] != candidate:
                raise E(E.NOT_PERMITTED, f"Overwrite new schema with id {schema_id} is not permitted.")
            number = version or max(every, default=0) + 1
            if number in every:
                raise E(E.NOT_PERMITTED, f"Subject {subject} already has a version {number}")
            for old in [v for v in every.values() if v.deleted and v.id == schema_id and v.version < number]:
                if not self._referrers(subject, old.version, deleted=True):
                    self._write(schema_key(subject, old.version), None)
            registered = Version(subject, number, schema_id)
            self._write(*schema_record(registered, candidate))
        log.info("registry.registered", subject=subject, version=number, id=schema_id, mode=mode)
        return registered

    def delete_version(self, subject: str, version: str | int, permanent: bool = False) -> int:
        """Soft-delete a version, or permanently delete a soft-deleted one; returns its number."""
        number = _number(version)
        with self._lock:
            self._writable(subject)
            if subject not in self._state.subjects:
                raise E(E.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
            v = self.version(subject, number, deleted=number != -1)
            if v.deleted and not permanent:
                raise E(
                    E.VERSION_SOFT_DELETED,
                    f"Subject '{subject}' Version {v.version} was soft deleted. "
                    "Set permanent=true to delete permanently",
                )
            if permanent and not v.deleted:
                raise E(
                    E.VERSION_NOT_SOFT_DELETED,
                    f"Subject '{subject}' Version {v.version} was not deleted first before being "
                    "permanently deleted",
                )
            if self._referrers(subject, v.version, deleted=permanent):
                raise E(
                    E.REFERENCE_EXISTS, f"One or more references exist to the schema {subject} {v.version}"
                )
            if permanent:
                self._reserve_ids()
                self._write(schema_key(subject, v.version), None)
                if subject not in self._state.subjects:
                    self._forget_settings(subject)
            else:
                gone = Version(subject, v.version, v.id, deleted=True)
                self._write(*schema_record(gone, self._state.schemas[v.id]))
        log.info("registry.deleted_version", subject=subject, version=v.version, permanent=permanent)
        return v.version

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        """Soft-delete every live version, or permanently delete a soft-deleted subject."""
        with self._lock:
            every = sorted(self._state.subjects.get(subject, {}).values(), key=lambda v: v.version)
            if not every:
                raise E(E.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
            if not permanent and all(v.deleted for v in every):
                raise E(
                    E.SUBJECT_SOFT_DELETED,
                    f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
                )
            self._writable(subject)
            if permanent and not all(v.deleted for v in every):
                raise E(
                    E.SUBJECT_NOT_SOFT_DELETED,
                    f"Subject '{subject}' was not deleted first before being permanently deleted",
                )
            targets = every if permanent else [v for v in every if not v.deleted]
            for v in targets:
                if [
                    r for r in self._referrers(subject, v.version, deleted=permanent) if r.subject != subject
                ]:
                    raise E(
                        E.REFERENCE_EXISTS,
                        f"One or more references exist to the schema {subject} {v.version}",
                    )
            if permanent:
                self._reserve_ids()
                for v in reversed(targets):
                    self._write(schema_key(subject, v.version), None)
                self._forget_settings(subject)
            else:
                self._write(
                    {"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0},
                    {"subject": subject, "version": targets[-1].version},
                )
        log.info("registry.deleted_subject", subject=subject, permanent=permanent)
        return [v.version for v in targets]

    def set_level(self, level: str, subject: str | None = None) -> str:
        if level not in LEVELS:
            raise E(
                E.INVALID_COMPATIBILITY, f"Invalid compatibility level {level!r}; valid: {', '.join(LEVELS)}"
            )
        with self._lock:
            self._write(setting_key("CONFIG", subject or GLOBAL), {"compatibilityLevel": level})
        log.info("registry.config", subject=subject, compatibility=level)
        return level

    def delete_level(self, subject: str | None = None) -> str:
        """Remove a subject's (or the global) level; returns the level it had."""
        with self._lock:
            before = self._state.config.get(subject or GLOBAL)
            if before is None and subject:
                raise E(E.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
            self._write(setting_key("CONFIG", subject or GLOBAL), None)
        return before or self._default_level

    def set_mode(self, mode: str, subject: str | None = None, force: bool = False) -> str:
        """Set a mode; entering IMPORT needs no live subject in its scope unless ``force``."""
        if mode not in MODES:
            raise E(E.INVALID_MODE, f"Invalid mode {mode!r}; valid: {', '.join(MODES)}")
        with self._lock:
            if mode == "IMPORT" and self.mode(subject) != "IMPORT" and not force:
                scope = [subject] if subject else list(self._state.subjects)
                if any(not v.deleted for s in scope for v in self._state.subjects.get(s, {}).values()):
                    raise E(E.NOT_PERMITTED, "Cannot import since found existing subjects")
            self._write(setting_key("MODE", subject or GLOBAL), {"mode": mode})
        log.info("registry.mode", subject=subject, mode=mode)
        return mode

    def delete_mode(self, subject: str | None = None) -> str:
        """Remove a subject's (or the global) mode; returns the mode it had."""
        with self._lock:
            before = self._state.modes.get(subject or GLOBAL)
            if before is None and subject:
                raise E(E.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
            self._write(setting_key("MODE", subject or GLOBAL), None)
        return before or "READWRITE"

    # --- helpers -------------------------------------------------------------------------------
    def _resolve(self, ref: Reference) -> Stored:
        try:
            v = self.version(ref.subject, ref.version, deleted=True)
        except RegistryError:
            raise E(
                E.INVALID_SCHEMA,
                f"Invalid schema: reference {ref.name!r} to subject '{ref.subject}' version "
                f"{ref.version} not found",
            ) from None
        return self._state.schemas[v.id]

    def _candidate(self, schema: Stored, normalize: bool) -> Stored:
        if not normalize:
            return Stored(identity(schema.text), schema.references)
        refs = tuple(sorted(set(schema.references)))
        return Stored(normalized(Stored(schema.text, refs), self._resolve), refs)

    def _normalized(self, schema_id: int) -> Stored:
        stored = self._state.schemas[schema_id]
        if schema_id not in self._normal:
            self._normal[schema_id] = self._candidate(stored, True).text
        return Stored(self._normal[schema_id], tuple(sorted(set(stored.references))))

    def _same(self, schema_id: int, candidate: Stored, normalize: bool) -> bool:
        if normalize:
            return self._normalized(schema_id) == candidate
        return self._state.schemas[schema_id] == candidate

    def _known_id(self, candidate: Stored, normalize: bool) -> int | None:
        known = self._state.ids.get(candidate)
        if known is None and normalize:
            known = next(
                (sid for sid in sorted(self._state.schemas) if self._same(sid, candidate, True)), None
            )
        return known

    def _parsed(self, versions: Iterable[Version]) -> list[avro.schema.Schema]:
        return [parse(self._state.schemas[v.id], self._resolve) for v in versions]

    def _referrers(self, subject: str, version: int, deleted: bool) -> list[Version]:
        """Versions whose schema imports ``subject``'s ``version`` (soft-deleted ones if ``deleted``)."""
        return [
            holder
            for sid, stored in self._state.schemas.items()
            if any(r.subject == subject and r.version == version for r in stored.references)
            for holder in self._state.holders(sid)
            if deleted or not holder.deleted
        ]

    def _writable(self, subject: str) -> None:
        if self.mode(subject) == "READONLY":
            raise E(E.NOT_PERMITTED, f"Subject {subject} is in read-only mode")

    def _reserve_ids(self) -> None:
        self._write({"keytype": "ID_RESERVED", "magic": 0}, {"id": self._state.max_id})

    def _forget_settings(self, subject: str) -> None:
        if subject in self._state.config:
            self._write(setting_key("CONFIG", subject), None)
        if subject in self._state.modes:
            self._write(setting_key("MODE", subject), None)


def _number(version: str | int) -> int:
    """-1 for ``latest``, else a positive version number; 42202 otherwise."""
    if version in ("latest", -1, "-1"):
        return -1
    try:
        number = int(version)
    except ValueError:
        number = 0
    if number <= 0:
        raise E(E.INVALID_VERSION, f"The specified version '{version}' is not a valid version id.")
    return number
