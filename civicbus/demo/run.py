"""``civicbus demo``: the whole path on sample data, printed as a person would want to see it.

Starts (or finds) the local broker, then the registry, seven departments' demo connectors and the
streams worker (running the three shipped views) and the share service (the example grants'
projections) as child processes; tails the unified resident
view and prints each profile as it forms. After the first
profiles, it inserts a new resident into both departmental databases and reports how long the
new profile took to appear. Children are stopped with SIGTERM on exit; the broker is stopped only
if the demo started it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
import structlog

from civicbus.connectors.config import ConnectorSettings
from civicbus.core.settings import BusSettings, load
from civicbus.ops.kafka import broker
from civicbus.ops.kafka.settings import BrokerSettings
from civicbus.streams.settings import StreamsSettings
from civicbus.streams.views.catalog import load_all

from .generate import (
    HUKOU,
    MINZHENG,
    hukou_row,
    local_now,
    minzheng_row,
    person,
    sample_is_current,
    write_demo,
)

log = structlog.get_logger(__name__)
GENDER = {"1": "男", "2": "女", "0": "未知", "9": "未说明"}
DEMO_CONNECTORS = (
    "gongan-hukou",
    "minzheng-subsidy",
    "weijian-death",
    "scjg-enterprise",
    "yingji-inspection",
)
"""The departmental systems the demo runs (connectors/examples), feeding the three shipped views."""


def _spawn(args: list[str], logfile: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = open(logfile, "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [sys.executable, "-m", "civicbus", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout_s}s")


def describe(profile: dict[str, Any]) -> str:
    """One human line for a profile."""
    reg = profile.get("registration")
    who = (
        f"{reg['name']} {GENDER.get(reg['gender_code'], '?')} {reg['birth_date']} {reg.get('address') or ''}"
        if reg
        else "(not registered in this county)"
    )
    subs = ", ".join(f"{s['kind']} {s['status']} ¥{s['monthly_amount']}/月" for s in profile["subsidies"])
    line = f"{profile['id_number']}  {who}  [{'+'.join(profile['departments'])}]"
    if subs:
        line += f"  民政: {subs}"
    if profile.get("closed"):
        died = profile["death"]["death_date"] if profile.get("death") else ""
        line += f"  ✝ 已故 {died} ({profile['closed_by']})"
    if profile["discrepancies"]:
        line += f"  ⚠ {'; '.join(profile['discrepancies'])}"
    return line


def _insert_live(demo_dir: Path) -> str:
    rng = random.Random(time.time_ns())
    p = person(rng)
    now = local_now()
    for db, table, row in (
        ("hukou.db", HUKOU, hukou_row(p, rng, now)),
        ("minzheng.db", MINZHENG, minzheng_row(p, rng, now)),
    ):
        engine = sa.create_engine(f"sqlite:///{demo_dir / db}")
        with engine.begin() as conn:
            conn.execute(table.insert(), [row])
        engine.dispose()
    return p.id_number


def run_demo(residents: int, seconds: float | None) -> int:
    bus = load(BusSettings)
    home = Path(".civicbus")
    demo_dir = (home / "demo").resolve()
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bcfg = load(BrokerSettings)
    started_broker = not broker.port_open(bcfg.host, bcfg.port)
    print(
        f"• starting Kafka {'' if started_broker else '(already running) '}at {bcfg.bootstrap} …", flush=True
    )
    broker.start(bcfg)
    if not sample_is_current(demo_dir):  # absent, or written before the sample tables changed
        shutil.rmtree(demo_dir, ignore_errors=True)
        print(f"• wrote sample databases: {write_demo(demo_dir, residents)}", flush=True)
    env = {**os.environ, "CIVICBUS_DEMO_DIR": str(demo_dir)}
    examples = resources.files("civicbus.connectors").joinpath("examples")
    streams = load(StreamsSettings)
    views = load_all(streams.views_dir)
    resident_view = next(v for v in views if v.record == "ResidentProfile")
    others = [v.topic for v in views if v is not resident_view]
    connectors = load(ConnectorSettings)
    children: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        reg = _spawn(["registry", "serve"], logs / "registry.log", env)
        children.append(reg)
        _wait_http(f"{bus.registry_url}/subjects", reg)
        print(f"• schema registry at {bus.registry_url}", flush=True)
        children.append(
            _spawn(
                [
                    "connectors",
                    "run",
                    *(str(examples / f"{name}.yaml") for name in DEMO_CONNECTORS),
                ],
                logs / "connectors.log",
                env,
            )
        )
        children.append(_spawn(["streams", "worker"], logs / "streams.log", env))
        grants = resources.files("civicbus.share").joinpath("examples")
        children.append(
            _spawn(["share", "run"], logs / "share.log", {**env, "CIVICBUS_SHARE_GRANTS_DIR": str(grants)})
        )
        print(
            "• connectors and streams started; logs in .civicbus/logs/\n"
            f"• metrics: connectors {_metrics_url(connectors.metrics_addr, connectors.metrics_port)},"
            f" streams {_metrics_url(streams.metrics_addr, streams.metrics_port)},"
            f" registry {bus.registry_url}/metrics\n"
            + "".join(f"• also running: {t} (civicbus tail {t})\n" for t in others)
            + "• shared with downstream apps, masked (grants in share/examples): "
            "civicbus tail civicbus.share.heping-elderly-care.household\n"
            + f"• unified resident profiles from {resident_view.topic}:\n",
            flush=True,
        )
        deadline = time.monotonic() + seconds if seconds else None
        return _follow(bus, resident_view.topic, demo_dir, deadline, stop, children)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if started_broker:
            broker.stop(bcfg)


def _metrics_url(addr: str, port: int) -> str:
    return f"http://{addr}:{port}/metrics" if port else "(metrics off)"


def _follow(
    bus: BusSettings,
    view_topic: str,
    demo_dir: Path,
    deadline: float | None,
    stop: threading.Event,
    children: list[subprocess.Popen[bytes]],
) -> int:
    """Print profiles as they arrive; insert one live resident once the first ones are shown."""
    from kafka import TopicPartition

    from civicbus.core.kafka import consumer
    from civicbus.schemas.registry_client import RegistryClient
    from civicbus.schemas.wire import AvroDecoder

    decode = AvroDecoder(RegistryClient(bus.registry_url))
    client = consumer(bus.bootstrap_servers, "demo consumer")
    assigned = False
    live_id: str | None = None
    inserted_at = 0.0
    shown = 0
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if any(c.poll() is not None for c in children):
                print("a civicbus process exited; see .civicbus/logs/", file=sys.stderr)
                return 1
            if not assigned:
                parts = client.partitions_for_topic(view_topic)
                if not parts:
                    time.sleep(0.5)
                    continue
                tps = [TopicPartition(view_topic, p) for p in sorted(parts)]
                client.assign(tps)
                client.seek_to_beginning(*tps)
                assigned = True
            for records in client.poll(timeout_ms=300).values():
                for rec in records:
                    if rec.value is None:
                        continue
                    profile = decode(rec.value)
                    shown += 1
                    notable = profile["discrepancies"] or profile.get("closed")
                    if shown <= 20 or profile["id_number"] == live_id or notable:
                        print(describe(profile), flush=True)
                    if profile["id_number"] == live_id and profile["subsidies"] and profile["registration"]:
                        print(
                            f"\n✓ live change: the new resident's profile arrived "
                            f"{time.monotonic() - inserted_at:.1f}s after the insert\n",
                            flush=True,
                        )
                        live_id = ""
            if live_id is None and shown >= 20:
                live_id = _insert_live(demo_dir)
                inserted_at = time.monotonic()
                print(
                    f"\n→ inserting resident {live_id} into 公安 hukou.db and 民政 minzheng.db now …\n",
                    flush=True,
                )
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    print(f"\n{shown} profile updates read from {view_topic}.", flush=True)
    return 0 if shown else 1
