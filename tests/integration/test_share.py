"""Sharing on a real broker with SASL/SCRAM and ACLs: the broker itself refuses an app without a
grant (and the refusal is audited), an app with one sees exactly its fields with every sensitive
one protected, and a withdrawn grant ends delivery and its ACLs."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin._scram import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

from civicbus.share.subscribe import AccessRefused, Subscription

from ..helpers import ROOT, unique, wait_until
from ..share_setup import VIEW, VIEW_TOPIC, Sharing, as_json, household, projected, refused

GRANTED = ["household_id", "division_code", "address", "head_id_number", "member_count", "elderly_alone"]


def assert_refused(sharing: Sharing, app: str, password: str) -> None:
    """``app``, logging in with ``password``, is refused its own projection's topic."""
    with (
        pytest.raises(AccessRefused),
        Subscription(
            app,
            VIEW,
            password=password,
            bootstrap_servers=sharing.bootstrap,
            registry_url=sharing.registry_url,
        ) as subscription,
    ):
        wait_until(lambda: subscription.poll(0.5), 60, "the broker's refusal")


def subscribed(sharing: Sharing, app: str, keys: set[str]) -> dict[str, dict[str, object]]:
    """Every record of ``app``'s projection whose key is in ``keys``, read as the app."""
    seen: dict[str, dict[str, object]] = {}
    password = sharing.password_file(app).read_text().strip()
    with Subscription(
        app, VIEW, password=password, bootstrap_servers=sharing.bootstrap, registry_url=sharing.registry_url
    ) as subscription:

        def complete() -> bool:
            record = subscription.poll(0.5)
            while record is not None:
                if record.key in keys and record.value is not None:
                    seen[str(record.key)] = record.value
                record = subscription.poll(0.1)
            return keys <= set(seen)

        wait_until(complete, 180, f"{len(keys)} records on {app}'s topic")
        subscription.commit()
    return seen


def shared(sharing: Sharing, name: str, count: int) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """A new app granted the example's fields, ``count`` new households, and what the app read of
    them through its subscription."""
    app = unique(name).lower()
    sharing.grant(app)
    sharing.wait_audit("projection.started", app)
    homes = [household(f"{name[0].upper()}{unique('')[-6:]}{n:04d}") for n in range(count)]
    sharing.produce_households(homes)
    return app, homes, subscribed(sharing, app, {h["household_id"] for h in homes})


def test_an_app_with_a_grant_sees_exactly_its_fields_never_in_plain_text(sharing: Sharing) -> None:
    app, homes, seen = shared(sharing, "care", 300)
    plain = {str(h[f]) for h in homes for f in ("address", "head_id_number")}
    for home in homes:
        record = seen[home["household_id"]]
        assert list(record) == GRANTED
        assert record["household_id"] == home["household_id"] and record["member_count"] == 1
        assert str(record["address"]).endswith("***") and record["address"] != home["address"]
        assert len(str(record["head_id_number"])) == 32
    # every record of the app's topic, as raw bytes: no plain identifier or address anywhere
    for _, value in projected(sharing, app):
        assert value is not None
        text = value.decode("utf-8", errors="replace")
        assert not [p for p in plain if p in text]
    started = sharing.wait_audit("grant.applied", app)
    assert started.details["fields"] == {VIEW: GRANTED} and started.who.startswith("区政务服务和数据管理局")


def test_an_app_without_a_grant_is_refused_by_the_broker_and_the_refusal_is_audited(sharing: Sharing) -> None:
    nosy = unique("nosy").lower()
    admin = sharing.admin()
    login = UserScramCredentialUpsertion(
        nosy, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"secret-of-nosy"
    )
    for future in admin.alter_user_scram_credentials([login]).values():
        future.result(timeout=30)
    credentials = {
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": nosy,
        "sasl.password": "secret-of-nosy",
    }
    for topic in (VIEW_TOPIC, "civicbus.gongan.resident", f"civicbus.share.heping-elderly-care.{VIEW}"):
        assert refused(credentials, sharing.bootstrap, topic).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert_refused(sharing, nosy, "secret-of-nosy")
    event = sharing.wait_audit("access.refused", nosy)
    assert event.who == f"User:{nosy}" and "DESCRIBE topic" in event.what
    assert event.details["count"] >= 1


def test_civicbus_tail_shows_an_app_its_own_topic_and_refuses_it_the_rest(
    sharing: Sharing, tmp_path: Path
) -> None:
    app, (home,), _ = shared(sharing, "tail", 1)

    def tail(topic: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **sharing.app_env(app)}
        return subprocess.run(
            [sys.executable, "-m", "civicbus", "tail", topic, "--from-beginning", "--timeout", "20"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    own = tail(f"civicbus.share.{app}.{VIEW}")
    assert own.returncode == 0, own.stderr
    assert home["household_id"] in own.stdout and home["head_id_number"] not in own.stdout
    raw = tail(VIEW_TOPIC)
    assert raw.returncode == 3 and "refuses" in raw.stderr
    assert str(sharing.password_file(app).read_text().strip()) not in own.stderr + raw.stderr


def test_a_withdrawn_grant_stops_delivery_and_its_acls_and_login_are_gone(sharing: Sharing) -> None:
    leaving, staying = unique("leaving").lower(), unique("staying").lower()
    grant_file = sharing.grant(leaving)
    sharing.grant(staying)
    sharing.wait_audit("projection.started", leaving)
    sharing.wait_audit("projection.started", staying)
    before = [household(f"W{unique('')[-6:]}{n:04d}") for n in range(20)]
    sharing.produce_households(before)
    subscribed(sharing, leaving, {h["household_id"] for h in before})
    assert len(sharing.acls_of(leaving)) == 5
    password = sharing.password_file(leaving).read_text().strip()

    grant_file.unlink()
    withdrawn = sharing.wait_audit("grant.withdrawn", leaving)
    assert withdrawn.why
    sharing.wait_audit("projection.stopped", leaving)
    assert sharing.acls_of(leaving) == []
    sharing.wait_audit("access.login_deleted", leaving)
    assert_refused(sharing, leaving, password)

    after = [household(f"X{unique('')[-6:]}{n:04d}") for n in range(20)]
    sharing.produce_households(after)
    subscribed(sharing, staying, {h["household_id"] for h in after})  # the projections have read them
    leaving_keys = as_json([k for k, _ in projected(sharing, leaving)])
    assert not [h for h in after if h["household_id"] in leaving_keys]
    assert [h for h in before if h["household_id"] in leaving_keys]


def test_civicbus_audit_prints_an_apps_events_and_its_monthly_report(sharing: Sharing) -> None:
    app, homes, _ = shared(sharing, "audited", 5)
    env = {**os.environ, **sharing.env()}

    def audit(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "civicbus", "audit", "--app", app, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    kinds = [json.loads(line)["kind"] for line in audit("--since", "2000-01-01").splitlines()]
    assert kinds[0] == "grant.applied" and "access.granted" in kinds and "projection.started" in kinds
    assert audit("--until", "2000-01-01") == ""
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    report = audit("--report", month)
    assert report.startswith(f"# Data shared with {app} — {month}")
    assert (
        "| household | household_id, division_code, address, head_id_number, member_count, elderly_alone |"
        in report
    )
    delivered = int(report.split(f"| civicbus.share.{app}.household | ")[1].split(" ")[0].replace(",", ""))
    assert delivered >= len(homes)


def test_no_password_is_in_any_log(sharing: Sharing) -> None:
    """Passwords of the broker, of civicbus and of every app never reach a log line."""
    secrets = [p.read_text().strip() for p in sharing.broker.secrets.rglob("*.password")]
    assert len(secrets) >= 4
    logs = [*(sharing.broker.home / "logs").glob("*.log"), *sharing.logs.glob("*.log")]
    assert len(logs) >= 3
    for log in logs:
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], log
