"""How long a streams worker takes to be back after a restart, with a county's state behind it.

    .venv/bin/python -m bench.streams_recovery [--residents 500000]

Needs the local broker and registry (``civicbus broker start`` + ``civicbus registry serve``).

1. Input: the demo connectors put a handful of real registrations and subsidies on topics; each
   becomes the template for N residents' registrations (and subsidies for 30 % of them), with
   the demo generator's people, encoded with the same writer schemas and keys.
2. One worker (RocksDB stores) folds them all, then stops (SIGTERM).
3. Each restart is timed from spawning the worker to its folding one new event written before
   the start: with its RocksDB stores (only the changelog's tail to read), with its stores gone
   (rebuilt from the whole changelog), and with ``store=memory`` (the same, in memory). The
   floor, in the same run: a worker of a fresh view with nothing to restore.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Producer

from civicbus.core.kafka import ensure_topic
from civicbus.demo.generate import person
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder

from .procs import free_port, peak_rss_mb, scrape
from .stream_runtimes import messages
from .streams import EVENTS, prepare_input, spawn, stop, worker_env

RESTORED = "civicbus_streams_changelog_restored_total"


class Cloner:
    """Encodes copies of a real event with another person in it, under the event's own schema."""

    def __init__(self, registry: RegistryClient, key: bytes, value: bytes) -> None:
        self.key_header = key[:5]
        self.value_header = value[:5]
        sid = int.from_bytes(value[1:5], "big")
        self.schema = fastavro.parse_schema(registry.schema(sid))
        self.template = AvroDecoder(registry)(value)

    def key(self, text: str) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, "string", text)
        return self.key_header + buf.getvalue()

    def value(self, **after: Any) -> bytes:
        event = {**self.template, "after": {**self.template["after"], **after}}
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.schema, event)
        return self.value_header + buf.getvalue()


def make_input(work: Path, bootstrap: str, registry: RegistryClient, residents: int) -> tuple[str, str, int]:
    seed_resident, seed_subsidy, count = prepare_input(work, 40)
    templates = {m.topic: m for m in messages(bootstrap, [seed_resident, seed_subsidy], count)}
    reg = Cloner(registry, templates[seed_resident].key, templates[seed_resident].value)
    sub = Cloner(registry, templates[seed_subsidy].key, templates[seed_subsidy].value)
    tag = uuid.uuid4().hex[:6]
    resident, subsidy = f"bench.rec.resident.{tag}", f"bench.rec.subsidy.{tag}"
    for name in (resident, subsidy):
        ensure_topic(bootstrap, name, 3)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "partitioner": "murmur2_random"})
    rng = random.Random(7)
    written = 0
    print(f"• input: {residents:,} residents cloned from the demo connectors' events …", flush=True)
    for n in range(residents):
        p = person(rng)
        key = reg.key(p.id_number)
        producer.produce(resident, reg.value(id_number=p.id_number, name=p.name, birth_date=p.birth), key)
        written += 1
        if rng.random() < 0.3:
            producer.produce(subsidy, sub.value(id_number=p.id_number, name=p.name, subsidy_id=f"b{n}"), key)
            written += 1
        if n % 10000 == 0:
            producer.poll(0)
    producer.flush()
    return resident, subsidy, written


def run_until(env: dict[str, str], log: Path, port: int, count: float) -> tuple[float, float, float]:
    """Spawn a worker and wait until it has folded ``count`` events; (seconds, restored, peak RSS MB)."""
    began = time.monotonic()
    proc = spawn(["streams", "worker"], env, log)
    try:
        while scrape(port, EVENTS) < count:
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited with {proc.returncode}; see {log}")
            time.sleep(0.05)
        return time.monotonic() - began, scrape(port, RESTORED), peak_rss_mb(proc.pid)
    finally:
        stop(proc)


def one_more(bootstrap: str, registry: RegistryClient, topic: str, template: Any) -> None:
    """One new registration on ``topic``: the event a restarted worker must fold to count as back."""
    cloner = Cloner(registry, template.key, template.value)
    p = person(random.Random(time.time_ns()))
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    producer.produce(topic, cloner.value(id_number=p.id_number, name=p.name), cloner.key(p.id_number))
    producer.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=500_000)
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    registry = RegistryClient(os.environ.get("CIVICBUS_REGISTRY_URL", "http://127.0.0.1:8081"))
    work = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    resident, subsidy, count = make_input(work, bootstrap, registry, args.residents)
    template = messages(bootstrap, [resident], 1)[0]
    data, port = work / "data", free_port()
    env = worker_env(work, resident, subsidy, f"bench.view.{uuid.uuid4().hex[:6]}", port, data)
    first, _, rss = run_until(env, work / "fold.log", port, count)
    print(
        f"• folded {count:,} events in {first:.0f} s ({count / first:,.0f}/s incl. start), "
        f"peak RSS {rss:.0f} MB"
    )
    rows: list[tuple[str, float, float, float]] = []

    # the floor: a fresh view over an empty topic pair, nothing to restore
    tag = uuid.uuid4().hex[:6]
    empty_r, empty_s = f"bench.rec.empty.{tag}", f"bench.rec.empty2.{tag}"
    for t in (empty_r, empty_s):
        ensure_topic(bootstrap, t, 3)
    floor_env = worker_env(work, empty_r, empty_s, f"bench.view.{tag}", free_port())
    one_more(bootstrap, registry, empty_r, template)
    rows.append(
        (
            "floor: fresh view, nothing to restore",
            *run_until(floor_env, work / "floor.log", int(floor_env["CIVICBUS_STREAMS_METRICS_PORT"]), 1),
        )
    )

    seen = count
    for what, prepare in (
        ("restart, RocksDB stores kept (changelog tail only)", lambda: None),
        ("restart, stores lost (whole changelog)", lambda: shutil.rmtree(data)),
        ("restart, store=memory (whole changelog)", lambda: env.update(CIVICBUS_STREAMS_STORE="memory")),
    ):
        prepare()
        one_more(bootstrap, registry, resident, template)
        seen += 1
        port = free_port()
        env["CIVICBUS_STREAMS_METRICS_PORT"] = str(port)
        # the counter starts at 0 in a new process: the one new event is what it must fold
        rows.append((what, *run_until(env, work / f"restart-{len(rows)}.log", port, 1)))
    print(f"\n{args.residents:,} residents ({count:,} events) in the resident view; logs in {work}")
    print(f"{'start to first new event folded':<54}{'seconds':>9}{'restored':>11}{'peak RSS MB':>13}")
    for what, seconds, restored, peak in rows:
        print(f"{what:<54}{seconds:>9.1f}{restored:>11,.0f}{peak:>13,.0f}")


if __name__ == "__main__":
    main()
