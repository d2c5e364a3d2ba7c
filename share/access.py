"""The broker's side of the grants: each app's SCRAM login and ACLs, kept equal to the grants.

An app in force (a valid, unexpired grant) gets the principal ``User:<app>`` with a SCRAM-SHA-512
login (its password in the secrets folder, made on its first grant, handed to the app by the
data office) and exactly these ACLs, nothing else:

- READ and DESCRIBE on the topics prefixed ``civicbus.share.<app>.`` (its projections);
- WRITE and DESCRIBE on ``civicbus.share.<app>.deadletters`` (its webhook sink's dead letters);
- READ on the consumer group ``<app>`` and on groups prefixed ``<app>.``.

Raw department topics, views and dead-letter topics have no ACL at all: only the broker's and
civicbus's principals (super users) reach them, because the broker runs with
``allow.everyone.if.no.acl.found=false``. An app withdrawn or expired loses its ACLs and its
login. :meth:`Access.reconcile` is idempotent and returns what it changed, for the audit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclBindingFilter, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from civicbus.core import identity, secrets

log = structlog.get_logger(__name__)
PREFIX = "civicbus.share."
TIMEOUT_S = 30.0


def unenforced(exc: KafkaException) -> bool:
    """True when ``exc`` says the broker runs no authorizer (so no ACL can be kept)."""
    error = exc.args[0] if exc.args else None
    return bool(error is not None and hasattr(error, "code") and error.code() == KafkaError.SECURITY_DISABLED)


def dead_letters(app: str) -> str:
    """Where an app's webhook sink puts what it could not deliver."""
    return f"{PREFIX}{app}.deadletters"


def bindings(app: str) -> set[AclBinding]:
    """The ACLs an app in force has (see the module's contract)."""
    user = f"User:{app}"

    def acl(restype: ResourceType, name: str, pattern: ResourcePatternType, op: AclOperation) -> AclBinding:
        return AclBinding(restype, name, pattern, user, "*", op, AclPermissionType.ALLOW)

    topics, group = ResourceType.TOPIC, ResourceType.GROUP
    prefixed, literal = ResourcePatternType.PREFIXED, ResourcePatternType.LITERAL
    return {
        acl(topics, f"{PREFIX}{app}.", prefixed, AclOperation.READ),
        acl(topics, f"{PREFIX}{app}.", prefixed, AclOperation.DESCRIBE),
        acl(topics, dead_letters(app), literal, AclOperation.WRITE),
        acl(group, app, literal, AclOperation.READ),
        acl(group, f"{app}.", prefixed, AclOperation.READ),
    }


@dataclass(frozen=True)
class Change:
    """One thing :meth:`Access.reconcile` did: ``granted``/``revoked`` an ACL, ``login_created``/
    ``login_deleted`` for an app."""

    action: str
    app: str
    detail: str


def _describe(binding: AclBinding) -> str:
    operation, restype = AclOperation(binding.operation), ResourceType(binding.restype)
    return (
        f"{operation.name} on {restype.name.lower()} {binding.name}"
        f"{'*' if binding.resource_pattern_type == ResourcePatternType.PREFIXED else ''}"
    )


class Access:
    """Logins and ACLs of apps on one broker, through an admin client as civicbus's principal."""

    def __init__(self, bootstrap: str, secrets_dir: Path) -> None:
        self.secrets_dir = secrets_dir / "apps"
        self._admin = AdminClient({"bootstrap.servers": bootstrap, **identity.current().librdkafka()})

    def password(self, app: str) -> str:
        return secrets.password(self.secrets_dir, app)

    def managed(self) -> dict[str, set[AclBinding]]:
        """Every app civicbus gave ACLs to (a principal holding a ``civicbus.share.`` ACL), with all
        its ACLs."""
        found = self._admin.describe_acls(
            AclBindingFilter(
                ResourceType.ANY,
                None,  # type: ignore[arg-type]  # None matches any name, principal and host
                ResourcePatternType.ANY,
                None,  # type: ignore[arg-type]
                None,  # type: ignore[arg-type]
                AclOperation.ANY,
                AclPermissionType.ANY,
            ),
            request_timeout=TIMEOUT_S,
        ).result(timeout=TIMEOUT_S)
        apps = {b.principal.removeprefix("User:") for b in found if b.name.startswith(PREFIX)}
        return {app: {b for b in found if b.principal == f"User:{app}"} for app in apps}

    def reconcile(self, apps: Iterable[str]) -> list[Change]:
        """Make the broker's logins and ACLs those of exactly ``apps``; what changed."""
        wanted = set(apps)
        held = self.managed()
        changes: list[Change] = []
        logins = self._logins()
        for app in sorted(wanted):
            want = bindings(app)
            have = held.get(app, set())
            missing, stale = want - have, have - want
            if missing:  # first: a broker without an authorizer refuses it before any login exists
                self._run(self._admin.create_acls(list(missing), request_timeout=TIMEOUT_S))
            if stale:
                self._delete(stale)
            changes += [Change("granted", app, _describe(b)) for b in sorted(missing, key=_describe)]
            changes += [Change("revoked", app, _describe(b)) for b in sorted(stale, key=_describe)]
            if app not in logins:
                self._upsert_login(app)
                changes.append(Change("login_created", app, "SCRAM-SHA-512"))
        for app in sorted(set(held) - wanted):
            self._delete(held[app])
            changes += [Change("revoked", app, _describe(b)) for b in sorted(held[app], key=_describe)]
            if app in logins:
                deletion = UserScramCredentialDeletion(app, ScramMechanism.SCRAM_SHA_512)
                self._run(self._admin.alter_user_scram_credentials([deletion], request_timeout=TIMEOUT_S))
                changes.append(Change("login_deleted", app, "SCRAM-SHA-512"))
        for change in changes:
            log.info("share.access_changed", action=change.action, app=change.app, detail=change.detail)
        return changes

    def _logins(self) -> set[str]:
        try:
            described: Any = self._admin.describe_user_scram_credentials(request_timeout=TIMEOUT_S)
            found = described.result(timeout=TIMEOUT_S)
        except KafkaException as exc:  # no user has a credential yet
            log.debug("share.no_logins", error=str(exc))
            return set()
        return set(found)

    def _upsert_login(self, app: str) -> None:
        upsert = UserScramCredentialUpsertion(
            app, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), self.password(app).encode()
        )
        self._run(self._admin.alter_user_scram_credentials([upsert], request_timeout=TIMEOUT_S))

    def _delete(self, held: set[AclBinding]) -> None:
        filters = [
            AclBindingFilter(
                b.restype,
                b.name,
                b.resource_pattern_type,
                b.principal,
                b.host,
                b.operation,
                b.permission_type,
            )
            for b in held
        ]
        self._run(self._admin.delete_acls(filters, request_timeout=TIMEOUT_S))

    @staticmethod
    def _run(futures: object) -> None:
        values = futures.values() if isinstance(futures, dict) else futures
        for future in values:  # type: ignore[attr-defined]
            future.result(timeout=TIMEOUT_S)
