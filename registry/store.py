"""The registry's state, durable in one compacted Kafka topic.

Every registered (subject, version) and every compatibility setting is one record whose key names
it, so compaction keeps exactly the latest word on each and never drops a schema. On start,
:meth:`SchemaStore.load` replays the topic to its end before anything is served: IDs are never
re-assigned after a restart. A write is applied in memory only after the broker acknowledged it.

One registry process writes to a topic at a time (the single-writer rule Confluent's registry
enforces by leader election); run more replicas only behind a read-only proxy.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import avro.schema
import structlog
from kafka import KafkaProducer

from civicbus.core.kafka import ensure_topic, producer, read_to_end
from civicbus.ops import metrics
from civicbus.schemas.compat import MODES, check
from civicbus.schemas.registry_errors import RegistryError

log = structlog.get_logger(__name__)


def normalize(schema_text: str) -> tuple[str, avro.schema.Schema]:
    """Parse ``schema_text`` as Avro; returns a stable JSON form (identity of a schema) and it."""
    try:
        obj = json.loads(schema_text)
        parsed = avro.schema.parse(json.dumps(obj))
    except (ValueError, avro.errors.AvroException) as exc:
        raise RegistryError(RegistryError.INVALID_SCHEMA, f"Invalid schema: {exc}") from exc
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False), parsed


@dataclass
class Version:
    version: int
    id: int
    deleted: bool = False


@dataclass
class _State:
    schemas: dict[int, str] = field(default_factory=dict)  # id -> normalized text
    ids: dict[str, int] = field(default_factory=dict)  # normalized text -> id
    subjects: dict[str, list[Version]] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)  # "" = global


class SchemaStore:
    """Subjects, versions, IDs and compatibility settings; thread-safe."""

    def __init__(self, bootstrap: str, topic: str, default_mode: str = "BACKWARD") -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._default_mode = default_mode
        self._state = _State()
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def load(self) -> None:
        """Create the topic if needed and replay it; call once before serving."""
        ensure_topic(
            self._bootstrap, self._topic, partitions=1, compacted=True, config={"min.insync.replicas": "1"}
        )
        count = 0
        for key, value in read_to_end(self._bootstrap, self._topic):
            if key is not None:
                self._apply(json.loads(key), json.loads(value) if value is not None else None)
                count += 1
        self._producer = producer(self._bootstrap, "registry producer", linger_ms=0)
        metrics.REGISTRY_SCHEMAS.set(len(self._state.schemas))
        log.info(
            "registry.loaded",
            topic=self._topic,
            records=count,
            schemas=len(self._state.schemas),
            subjects=len(self._state.subjects),
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()

    def _apply(self, key: dict[str, Any], value: dict[str, Any] | None) -> None:
        st = self._state
        if key.get("keytype") == "CONFIG":
            subject = key.get("subject") or ""
            if value is None:
                st.config.pop(subject, None)
            else:
                st.config[subject] = value["compatibilityLevel"]
        elif key.get("keytype") == "SCHEMA" and value is not None:
            sid, text = int(value["id"]), value["schema"]
            st.schemas[sid] = text
            st.ids.setdefault(text, sid)
            versions = st.subjects.setdefault(value["subject"], [])
            versions[:] = [v for v in versions if v.version != value["version"]]
            versions.append(Version(int(value["version"]), sid, bool(value.get("deleted"))))
            versions.sort(key=lambda v: v.version)

    def _write(self, key: dict[str, Any], value: dict[str, Any]) -> None:
        assert self._producer is not None, "SchemaStore.load() was not called"
        raw_key = json.dumps(key, sort_keys=True).encode()
        raw_value = json.dumps(value, ensure_ascii=False).encode()
        try:
            self._producer.send(self._topic, key=raw_key, value=raw_value).get(timeout=30)
        except Exception as exc:
            raise RegistryError(RegistryError.STORE_ERROR, f"could not store: {exc}") from exc
        self._apply(key, value)

    # --- reads ---------------------------------------------------------------------------------
    def subjects(self) -> list[str]:
        return sorted(s for s, vs in self._state.subjects.items() if any(not v.deleted for v in vs))

    def versions(self, subject: str) -> list[Version]:
        live = [v for v in self._state.subjects.get(subject, []) if not v.deleted]
        if not live:
            raise RegistryError(RegistryError.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")
        return live

    def version(self, subject: str, version: str | int) -> Version:
        live = self.versions(subject)
        if version in ("latest", "-1"):
            return live[-1]
        try:
            number = int(version)
        except ValueError:
            number = 0
        if number <= 0:
            raise RegistryError(
                RegistryError.INVALID_VERSION, f"The specified version '{version}' is not a valid version id."
            )
        for v in live:
            if v.version == number:
                return v
        raise RegistryError(RegistryError.VERSION_NOT_FOUND, f"Version {version} not found.")

    def schema(self, schema_id: int) -> str:
        try:
            return self._state.schemas[schema_id]
        except KeyError:
            raise RegistryError(RegistryError.SCHEMA_NOT_FOUND, "Schema not found") from None

    def subjects_of(self, schema_id: int) -> list[tuple[str, int]]:
        self.schema(schema_id)
        return [
            (s, v.version)
            for s, vs in sorted(self._state.subjects.items())
            for v in vs
            if v.id == schema_id and not v.deleted
        ]

    def lookup(self, subject: str, schema_text: str) -> Version:
        text, _ = normalize(schema_text)
        for v in self.versions(subject):
            if self._state.schemas[v.id] == text:
                return v
        raise RegistryError(RegistryError.SCHEMA_NOT_FOUND, "Schema not found")

    def mode(self, subject: str | None = None, fallback: bool = True) -> str:
        if subject:
            if subject in self._state.config:
                return self._state.config[subject]
            if not fallback:
                raise RegistryError(
                    RegistryError.SUBJECT_CONFIG_NOT_FOUND,
                    f"Subject '{subject}' does not have subject-level compatibility configured",
                )
        return self._state.config.get("", self._default_mode)

    def compatibility(self, subject: str, schema_text: str, version: str = "latest") -> list[str]:
        """Problems registering ``schema_text`` under ``subject`` would meet; [] if none."""
        _, parsed = normalize(schema_text)
        live = self.versions(subject)
        mode = self.mode(subject)
        if version not in ("latest", "-1") and not mode.endswith("_TRANSITIVE"):
            live = [self.version(subject, version)]
        previous = [avro.schema.parse(self._state.schemas[v.id]) for v in live]
        return check(parsed, previous, mode)

    # --- writes --------------------------------------------------------------------------------
    def register(self, subject: str, schema_text: str) -> int:
        """Register ``schema_text`` under ``subject``; returns its ID (the same ID if known)."""
        text, parsed = normalize(schema_text)
        with self._lock:
            live = [v for v in self._state.subjects.get(subject, []) if not v.deleted]
            for v in live:
                if self._state.schemas[v.id] == text:
                    return v.id
            previous = [avro.schema.parse(self._state.schemas[v.id]) for v in live]
            problems = check(parsed, previous, self.mode(subject))
            if problems:
                raise RegistryError(
                    RegistryError.INCOMPATIBLE,
                    "Schema being registered is incompatible with an earlier schema for subject "
                    f"'{subject}', details: {'; '.join(problems)}",
                )
            sid = self._state.ids.get(text) or max(self._state.schemas, default=0) + 1
            all_versions = self._state.subjects.get(subject, [])
            number = max((v.version for v in all_versions), default=0) + 1
            self._write(
                {"keytype": "SCHEMA", "subject": subject, "version": number, "magic": 1},
                {"subject": subject, "version": number, "id": sid, "schema": text, "deleted": False},
            )
            metrics.REGISTRY_SCHEMAS.set(len(self._state.schemas))
            log.info("registry.registered", subject=subject, version=number, id=sid)
            return sid

    def set_mode(self, mode: str, subject: str | None = None) -> str:
        if mode not in MODES:
            raise RegistryError(
                RegistryError.INVALID_COMPATIBILITY,
                f"Invalid compatibility level {mode!r}; valid: {', '.join(MODES)}",
            )
        with self._lock:
            self._write({"keytype": "CONFIG", "subject": subject, "magic": 0}, {"compatibilityLevel": mode})
        log.info("registry.config", subject=subject, compatibility=mode)
        return mode
