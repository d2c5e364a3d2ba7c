"""The audit trail of sharing: who was given, shown or refused what, when, and why.

Every event is one JSON record on the audit topic (``civicbus.audit`` by default, kept forever,
keyed by the app), written by the share service (:mod:`.service`) only:

- ``grant.applied`` / ``grant.changed`` / ``grant.withdrawn`` / ``grant.expired`` /
  ``grant.invalid``: a grant file came into force, changed, was removed, ran out, or was refused
  (``why`` holds its problems). ``who`` is the approver (or the contact when no approval was
  needed); ``details.digest`` identifies the grant's content, so a restarted service knows which
  grants it has already announced;
- ``access.granted`` / ``access.revoked`` / ``access.login_created`` / ``access.login_deleted``:
  what the broker's ACLs and logins became (:mod:`.access`);
- ``projection.started`` / ``projection.stopped``;
- ``access.refused``: a request the broker's authorizer denied (:mod:`.refusals`), ``who`` the
  principal, ``what`` the operation and resource.

:func:`read` returns the events of a time range (and an app) for ``civicbus audit``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from civicbus.core.kafka import ensure_topic, producer, read_to_end

RETENTION = {"retention.ms": "-1", "cleanup.policy": "delete"}
"""Audit events are never deleted by the broker (the data office archives them)."""


class AuditEvent(BaseModel):
    at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    kind: str
    app: str
    who: str
    what: str
    why: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    def encode(self) -> tuple[bytes, bytes]:
        return self.app.encode(), self.model_dump_json().encode()


class AuditLog:
    """Appends events to the audit topic; each :meth:`write` returns once the broker has them all."""

    def __init__(self, bootstrap: str, topic: str, stop: threading.Event | None = None) -> None:
        ensure_topic(bootstrap, topic, 1, config=RETENTION, stop=stop)
        self.topic = topic
        self._producer = producer(bootstrap, "audit producer", stop, linger_ms=0)

    def write(self, *events: AuditEvent) -> None:
        futures = [self._producer.send(self.topic, value=v, key=k) for k, v in (e.encode() for e in events)]
        for future in futures:
            future.get(timeout=60)

    def close(self) -> None:
        self._producer.close()


def decode(data: bytes | None) -> AuditEvent | None:
    """An event, or None for a record that is not one (never written by civicbus)."""
    if data is None:
        return None
    try:
        return AuditEvent.model_validate(json.loads(data))
    except ValueError:
        return None


def read(
    bootstrap: str,
    topic: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    app: str | None = None,
) -> Iterator[AuditEvent]:
    """The events now on ``topic`` from ``since`` (inclusive) to ``until`` (exclusive), of ``app``."""
    for _, value in read_to_end(bootstrap, topic, must_exist=False):
        event = decode(value)
        if event is None or (app is not None and event.app != app):
            continue
        if (since is None or event.at >= since) and (until is None or event.at < until):
            yield event
