"""What the sharing tests share: the broker with authorization, a registry and a share service
on it, and the calls a test makes as civicbus or as an app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.admin._acl import AclBindingFilter, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from civicbus.ops.kafka.broker import CIVICBUS_PRINCIPAL
from civicbus.ops.kafka.settings import BrokerSettings
from civicbus.schemas import model
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire_raw import RawEncoder
from civicbus.share.audit import AuditEvent, decode

from .helpers import ROOT, read_topic, unique, wait_until

VIEW = "household"
VIEW_TOPIC = "civicbus.view.household"
EXAMPLE = ROOT / "share" / "examples" / "street-elderly-care.yaml"


def login(user: str, password: str) -> dict[str, str]:
    return {
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
    }


def household(number: str) -> dict[str, Any]:
    """A household view record whose personal data is recognisable in any bytes."""
    return {
        "household_id": number,
        "division_code": "110101",
        "address": f"北京市东城区和平里街道{number}号楼",
        "head_id_number": f"11010519500301{number[-4:]}",
        "members": [],
        "subsidies": [],
        "disabilities": [],
        "member_count": 1,
        "lives_alone": True,
        "elderly_alone": True,
        "has_disability": False,
        "sources": {"公安": "2026-11-01"},
        "departments": ["公安"],
        "discrepancies": [],
        "disagreements": [],
        "updated_ms": 1_790_000_000_000,
    }


@dataclass
class Sharing:
    broker: BrokerSettings
    registry_url: str
    grants: Path
    audit_topic: str
    logs: Path  # the share service's and the registry's logs

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def civicbus(self) -> dict[str, str]:
        """librdkafka login as civicbus's own principal (a super user)."""
        secret = (self.broker.secrets / f"{CIVICBUS_PRINCIPAL}.password").read_text().strip()
        return login(CIVICBUS_PRINCIPAL, secret)

    def env(self) -> dict[str, str]:
        """A civicbus child process's environment on this broker, as civicbus's principal."""
        return {
            "CIVICBUS_BOOTSTRAP_SERVERS": self.bootstrap,
            **({"CIVICBUS_REGISTRY_URL": self.registry_url} if self.registry_url else {}),
            "CIVICBUS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CIVICBUS_KAFKA_USERNAME": CIVICBUS_PRINCIPAL,
            "CIVICBUS_KAFKA_PASSWORD_FILE": str(self.broker.secrets / f"{CIVICBUS_PRINCIPAL}.password"),
            "CIVICBUS_SHARE_GRANTS_DIR": str(self.grants),
            "CIVICBUS_SHARE_SECRETS_DIR": str(self.broker.secrets),
            "CIVICBUS_SHARE_AUTHORIZER_LOG": str(self.broker.home / "logs" / "kafka-authorizer.log"),
            "CIVICBUS_SHARE_AUDIT_TOPIC": self.audit_topic,
            "CIVICBUS_SHARE_RELOAD_S": "1",
        }

    def app_env(self, app: str) -> dict[str, str]:
        """A child process's environment as ``app`` (its password file, as the data office hands it)."""
        return {
            **self.env(),
            "CIVICBUS_KAFKA_USERNAME": app,
            "CIVICBUS_KAFKA_PASSWORD_FILE": str(self.password_file(app)),
        }

    def password_file(self, app: str) -> Path:
        return self.broker.secrets / "apps" / f"{app}.password"

    def app_login(self, app: str) -> dict[str, str]:
        return login(app, self.password_file(app).read_text().strip())

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap, **self.civicbus})

    def create_view_topic(self) -> None:
        admin = self.admin()  # kept: a collected client cancels its requests
        futures = admin.create_topics(
            [NewTopic(VIEW_TOPIC, 3, 1, config={"cleanup.policy": "compact"})], request_timeout=30
        )
        for future in futures.values():
            try:
                future.result(timeout=30)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise

    def produce_households(self, records: list[dict[str, Any]]) -> None:
        """Write view records as the streams worker would (Avro, the view's subjects)."""
        registry = RegistryClient(self.registry_url)
        keys = RawEncoder(registry, f"{VIEW_TOPIC}-key", model.KEY_SCHEMA)
        values = RawEncoder(registry, f"{VIEW_TOPIC}-value", model.schema("HouseholdProfile"))
        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "partitioner": "murmur2_random", **self.civicbus}
        )
        for record in records:
            producer.produce(VIEW_TOPIC, values(record), keys(record["household_id"]))
            producer.poll(0)
        assert producer.flush(60) == 0

    def grant(self, app: str, **changes: Any) -> Path:
        """Put a grant for ``app`` (the elderly-care example's fields) in the service's folder."""
        data = {**yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), "app": app, **changes}
        path = self.grants / f"{app}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    def audit(self) -> list[AuditEvent]:
        records = read_topic(self.bootstrap, self.audit_topic, settle=0.5, login=self.civicbus)
        return [e for e in (decode(r.value) for r in records) if e is not None]

    def wait_audit(self, kind: str, app: str, timeout: float = 120) -> AuditEvent:
        def found() -> AuditEvent | None:
            return next((e for e in self.audit() if e.kind == kind and e.app == app), None)

        event: AuditEvent = wait_until(found, timeout, f"audit event {kind} of {app}")
        return event

    def acls_of(self, app: str) -> list[Any]:
        admin = self.admin()  # kept: a collected client cancels its requests
        every = AclBindingFilter(
            ResourceType.ANY,
            None,  # type: ignore[arg-type]
            ResourcePatternType.ANY,
            f"User:{app}",
            None,  # type: ignore[arg-type]
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        return list(admin.describe_acls(every, request_timeout=30).result(timeout=30))


def refused(user_login: dict[str, str], bootstrap: str, topic: str) -> KafkaError:
    """The error the broker answers ``user_login`` asking for ``topic``'s metadata."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("probe"), "log_level": 0, **user_login}
    )
    try:

        def error() -> KafkaError | None:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            return meta.error if meta is not None else None

        found: KafkaError = wait_until(error, 60, f"the broker's answer on {topic}")
        return found
    finally:
        consumer.close()


def projected(sharing: Sharing, app: str, min_count: int = 0) -> Iterator[tuple[bytes | None, bytes | None]]:
    """The raw records of ``app``'s household topic, read as civicbus."""
    topic = f"civicbus.share.{app}.{VIEW}"
    for record in read_topic(sharing.bootstrap, topic, min_count, settle=1.0, login=sharing.civicbus):
        yield record.key, record.value


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
