"""``civicbus share run``: keeps what apps receive and may read equal to the grant files.

Every ``reload_s`` (and at start) :meth:`Service.tick`:

1. reads every grant file in ``grants_dir`` and checks it against the views; a grant in force is
   valid and unexpired. A file that breaks a rule is not applied (``grant.invalid`` on the audit
   topic, once per distinct problem list) and, if its app was in force, the app is withdrawn: a
   broken edit never widens what an app gets;
2. announces what changed since the last tick (``grant.applied``/``changed``/``withdrawn``/
   ``expired``), the previous state rebuilt from the audit topic at start;
3. revokes first, then grants: the broker's logins and ACLs (:mod:`.access`) become exactly those
   of the apps in force, before any projection starts or after it stops (a broker without an
   authorizer is said loudly once, ``share.access_unenforced``, and then only projected to);
4. stops the projections of apps no longer in force, (re)starts those whose grant is new or
   changed (:mod:`.projector`), creating the app's topics first;
5. turns the authorizer's new refusals into ``access.refused`` events (:mod:`.refusals`).

Every step's outcome is an audit event (:mod:`.audit`). A failing tick (the broker away) is
logged and retried at the next; nothing is half-applied in a way that grants more than the files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from civicbus.core import identity, secrets
from civicbus.core.kafka import ensure_topic
from civicbus.ops import metrics
from civicbus.streams.views.catalog import load_all
from civicbus.streams.views.spec import ViewSpec

from . import audit
from .access import Access, Change, dead_letters, unenforced
from .audit import AuditEvent, AuditLog
from .grants import Grant, GrantError, parse, problems
from .projection import projections
from .projector import DEAD_LETTERS, Projector
from .refusals import RefusalLog
from .settings import ShareSettings

log = structlog.get_logger(__name__)
MASTER_KEY = "pseudonym-master"
"""The secrets file holding the master key every app's pseudonym key is derived from."""


@dataclass(frozen=True)
class Reading:
    """One read of the grants folder: the grants in force by app, and every refused file."""

    in_force: dict[str, tuple[Grant, str]]  # app → (grant, digest)
    expired: dict[str, Grant]
    invalid: dict[str, list[str]]  # file → problems


def digest(grant: Grant) -> str:
    return hashlib.sha256(grant.model_dump_json().encode()).hexdigest()


def read_grants(folder: Path, views: list[ViewSpec], today: dt.date) -> Reading:
    """Every grant file of ``folder`` sorted into in force, expired and refused. A folder that is
    gone (an unmounted volume) raises FileNotFoundError: it withdraws nothing, the tick fails."""
    if not folder.is_dir():
        raise FileNotFoundError(f"the grants folder {folder} is not there")
    in_force: dict[str, tuple[Grant, str]] = {}
    expired: dict[str, Grant] = {}
    invalid: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    for file in sorted(folder.glob("*.yaml")):
        try:
            grant = parse(file)
        except GrantError as exc:
            invalid[str(file)] = exc.problems
            continue
        files.setdefault(grant.app, []).append(str(file))
        found = problems(grant, views, today)
        if found and all(p.startswith("expired on") for p in found):
            expired[grant.app] = grant
        elif found:
            invalid[str(file)] = found
        else:
            in_force[grant.app] = (grant, digest(grant))
    for app, paths in files.items():
        if len(paths) > 1:  # which file rules would be a guess: none does
            in_force.pop(app, None)
            for path in paths:
                invalid[path] = [
                    f"app {app!r} is granted in {len(paths)} files ({', '.join(paths)}): keep one"
                ]
    return Reading(in_force, expired, invalid)


def _who(grant: Grant) -> str:
    return grant.approval.approver if grant.approval else grant.contact


class Service:
    """The share service of one deployment; :meth:`run` until ``stop`` is set. Building it waits
    for the broker (raising Stopped if ``stop`` is set meanwhile)."""

    def __init__(
        self, settings: ShareSettings, stop: threading.Event, today: Callable[[], dt.date] = dt.date.today
    ) -> None:
        self.settings = settings
        self.today = today
        self.views = load_all(settings.views_dir)
        self.specs = {v.name: v for v in self.views}
        self.master = secrets.password(settings.secrets_dir, MASTER_KEY).encode()
        self.audit = AuditLog(settings.bootstrap_servers, settings.audit_topic, stop)
        self.access = (
            Access(settings.bootstrap_servers, settings.secrets_dir) if settings.manage_access else None
        )
        self.refusals = (
            RefusalLog(settings.authorizer_log, settings.secrets_dir / "authorizer-log.offset")
            if settings.authorizer_log is not None
            else None
        )
        self.known = self._announced()
        self.invalid: dict[str, list[str]] = {}
        self.projectors: dict[str, Projector] = {}
        ensure_topic(settings.bootstrap_servers, DEAD_LETTERS, 1, stop=stop)

    def _announced(self) -> dict[str, str]:
        """Each app's grant digest as the audit topic last announced it in force."""
        known: dict[str, str] = {}
        for event in audit.read(self.settings.bootstrap_servers, self.settings.audit_topic):
            if event.kind in ("grant.applied", "grant.changed"):
                known[event.app] = str(event.details.get("digest"))
            elif event.kind in ("grant.withdrawn", "grant.expired"):
                known.pop(event.app, None)
        return known

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception as exc:
                    log.warning("share.tick_failed", error=f"{type(exc).__name__}: {exc}")
                stop.wait(self.settings.reload_s)
        finally:
            for app in list(self.projectors):
                self._stop_projection(app, "the share service stopped")
            self.audit.close()

    def tick(self) -> None:
        reading = read_grants(self.settings.grants_dir, self.views, self.today())
        ended = set(self.known) - set(reading.in_force)
        self.audit.write(*self._grant_events(reading))
        self.known = {app: d for app, (_, d) in reading.in_force.items()}  # announced: never twice
        for app in [a for a in self.projectors if a not in reading.in_force]:
            self._stop_projection(app, "grant no longer in force")
        self._reconcile_access(list(reading.in_force))
        for app, (grant, grant_digest) in reading.in_force.items():
            running = self.projectors.get(app)
            if running is not None and running.digest != grant_digest:
                self._stop_projection(app, "grant changed: projecting every view again")
                running = None
            if running is None:
                self._start_projection(grant, grant_digest)
        self._audit_refusals()
        metrics.SHARE_INVALID_GRANTS.set(len(reading.invalid))
        for app in reading.in_force:
            metrics.SHARE_GRANTS.labels(app).set(1)
        for app in ended:
            metrics.SHARE_GRANTS.labels(app).set(0)

    def _audit_refusals(self) -> None:
        if self.refusals is None:
            return
        refused = self.refusals.read()
        self.audit.write(*refused)
        self.refusals.commit()
        for event in refused:
            metrics.SHARE_REFUSALS.labels(event.who).inc(event.details["count"])

    def _grant_events(self, reading: Reading) -> list[AuditEvent]:
        events: list[AuditEvent] = []
        for path, found in reading.invalid.items():
            if self.invalid.get(path) != found:
                log.warning("share.grant_invalid", file=path, problems=found)
                events.append(
                    AuditEvent(
                        kind="grant.invalid",
                        app=Path(path).stem,
                        who="civicbus share",
                        what=path,
                        why="; ".join(found),
                    )
                )
        self.invalid = reading.invalid
        for app, (grant, grant_digest) in reading.in_force.items():
            before = self.known.get(app)
            if before == grant_digest:
                continue
            fields = {v.view: [f.name for f in v.fields] for v in grant.views}
            events.append(
                AuditEvent(
                    kind="grant.applied" if before is None else "grant.changed",
                    app=app,
                    who=_who(grant),
                    what=f"views {fields}",
                    why=f"{grant.purpose} ({grant.legal_basis})",
                    details={
                        "digest": grant_digest,
                        "expires": str(grant.expires),
                        "document": grant.approval.document if grant.approval else None,
                        "fields": fields,
                    },
                )
            )
        for app in set(self.known) - set(reading.in_force):
            ended = reading.expired.get(app)
            events.append(
                AuditEvent(
                    kind="grant.expired" if ended else "grant.withdrawn",
                    app=app,
                    who=_who(ended) if ended else "civicbus share",
                    what="every view of the grant",
                    why=f"expired on {ended.expires}" if ended else "its grant file was removed or refused",
                )
            )
        return events

    def _reconcile_access(self, apps: list[str]) -> None:
        if self.access is None:
            return
        try:
            changes = self.access.reconcile(apps)
        except KafkaException as exc:
            if not unenforced(exc):
                raise
            log.warning(
                "share.access_unenforced",
                bootstrap=self.settings.bootstrap_servers,
                consequence="the broker runs no authorizer: any client reads every topic, raw and "
                "projected; grants shape the projections only (a developer laptop, never a deployment)",
            )
            self.access = None
            return
        self.audit.write(*[self._access_event(c) for c in changes])

    @staticmethod
    def _access_event(change: Change) -> AuditEvent:
        return AuditEvent(
            kind=f"access.{change.action}", app=change.app, who="civicbus share", what=change.detail
        )

    def _start_projection(self, grant: Grant, grant_digest: str) -> None:
        found = projections(grant, self.specs, self.master)
        bootstrap = self.settings.bootstrap_servers
        for projection in found:
            view_topic = self.specs[projection.view].topic
            ensure_topic(bootstrap, projection.topic, self._partitions(view_topic), compacted=True)
        ensure_topic(bootstrap, dead_letters(grant.app), 1)
        by_topic = {self.specs[p.view].topic: p for p in found}
        projector = Projector(self.settings, grant.app, grant_digest, by_topic)
        projector.start()
        self.projectors[grant.app] = projector
        self.audit.write(
            AuditEvent(
                kind="projection.started",
                app=grant.app,
                who="civicbus share",
                what=", ".join(p.topic for p in found),
                why=grant.purpose,
                details={"digest": grant_digest},
            )
        )

    def _stop_projection(self, app: str, why: str) -> None:
        projector = self.projectors.pop(app)
        projector.stop()
        projector.join(self.settings.transaction_timeout_s * 3)
        self.audit.write(
            AuditEvent(
                kind="projection.stopped",
                app=app,
                who="civicbus share",
                what=", ".join(p.topic for p in projector.projections.values()),
                why=why,
            )
        )

    def _partitions(self, view_topic: str) -> int:
        """The view topic's partition count (the app's topic must have as many), or the setting's."""
        admin = AdminClient(
            {"bootstrap.servers": self.settings.bootstrap_servers, **identity.current().librdkafka()}
        )
        topics = admin.list_topics(view_topic, timeout=30).topics
        found = topics.get(view_topic)
        if found is None or found.error is not None or not found.partitions:
            ensure_topic(
                self.settings.bootstrap_servers, view_topic, self.settings.partitions, compacted=True
            )
            return self.settings.partitions
        return len(found.partitions)
