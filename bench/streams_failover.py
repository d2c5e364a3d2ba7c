"""What a worker's death costs the resident view while residents keep arriving.

    .venv/bin/python -m bench.streams_failover [--rate 300] [--seconds 60]

Needs the local broker and registry (``civicbus broker start`` + ``civicbus registry serve``).

Two workers share the resident view (RocksDB stores, one folder each); new registrations arrive
at a steady ``rate`` (cloned from the demo connectors' events, as ``bench.streams_recovery``
does); a third of the way in, one worker is SIGKILLed. A ``read_committed`` consumer of the view
times each registration from its send to its profile. Reported per partition, with which worker
held it before the kill: the worst delay after the kill, against the group's session timeout and
the transaction timeout (a killed worker's open transaction holds back ``read_committed``
readers of its partitions until the broker aborts it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

from civicbus.core.kafka import ensure_topic
from civicbus.demo.generate import person
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder
from civicbus.streams.settings import StreamsSettings

from .procs import free_port
from .stream_runtimes import messages
from .streams import prepare_input, spawn, stop, worker_env
from .streams_recovery import Cloner


def held_at(log: Path, when: float) -> set[int]:
    """The partitions a worker's log says it was assigned last before the wall-clock time ``when``."""
    held: set[int] = set()
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "streams.assigned":
            stamp = dt.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
            if stamp < when:
                held = set(entry["partitions"])
    return held


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=300, help="registrations/s")
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    registry = RegistryClient(os.environ.get("CIVICBUS_REGISTRY_URL", "http://127.0.0.1:8081"))
    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    seed_resident, seed_subsidy, count = prepare_input(work, 20)
    template = next(
        m for m in messages(bootstrap, [seed_resident, seed_subsidy], count) if m.topic == seed_resident
    )
    cloner = Cloner(registry, template.key, template.value)
    tag = uuid.uuid4().hex[:6]
    resident, subsidy, view = f"bench.fo.resident.{tag}", f"bench.fo.subsidy.{tag}", f"bench.fo.view.{tag}"
    for t in (resident, subsidy):
        ensure_topic(bootstrap, t, 3)
    ports = [free_port(), free_port()]
    env = worker_env(work, resident, subsidy, view, ports[0])
    envs = [
        {
            **env,
            "CIVICBUS_LOG_LEVEL": "INFO",
            "CIVICBUS_STREAMS_METRICS_PORT": str(port),
            "CIVICBUS_STREAMS_DATA_DIR": str(work / f"data-{n}"),
        }
        for n, port in enumerate(ports)
    ]
    workers = [spawn(["streams", "worker"], e, work / f"worker-{n}.log") for n, e in enumerate(envs)]
    sent: dict[str, tuple[float, int]] = {}
    seen: dict[str, float] = {}
    done = threading.Event()
    killed_at, killed_wall = [0.0], [0.0]

    def watch() -> None:
        decode = AvroDecoder(registry)
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-fo-{tag}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([view])
        while not done.is_set():
            for msg in consumer.consume(500, 0.2):
                if msg.error() is None and msg.key() is not None:
                    seen.setdefault(decode(msg.key()), time.monotonic())
        consumer.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 0})
    rng = random.Random(3)
    keys = AvroDecoder(registry)

    def delivered(err: object, msg: object) -> None:
        if err is None:
            key = keys(msg.key())  # type: ignore[attr-defined]
            sent[key] = (sent[key][0], msg.partition())  # type: ignore[attr-defined]

    try:
        # both workers in the group, each holding some partitions, before anything is sent
        while "streams.assigned" not in (work / "worker-1.log").read_text(errors="replace"):
            if any(w.poll() is not None for w in workers):
                raise SystemExit(f"a worker exited; see {work}")
            time.sleep(0.5)
        time.sleep(3)
        began = time.monotonic()
        total = int(args.rate * args.seconds)
        for i in range(total):
            p = person(rng)
            key = cloner.key(p.id_number)
            producer.produce(
                resident,
                cloner.value(id_number=p.id_number, name=p.name),
                key,
                on_delivery=lambda err, msg, k=p.id_number: (
                    sent.__setitem__(k, (sent[k][0], msg.partition())) if err is None else None
                ),
            )
            sent[p.id_number] = (time.monotonic(), -1)
            producer.poll(0)
            if i == total // 3:
                workers[0].send_signal(signal.SIGKILL)
                killed_at[0], killed_wall[0] = time.monotonic(), time.time()
            pause = began + (i + 1) / args.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        producer.flush()
        deadline = time.monotonic() + 120
        while len(seen) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        done.set()
        for w in workers:
            stop(w)
    survivor_parts = held_at(work / "worker-1.log", killed_wall[0])
    owners = {part: "survivor" if part in survivor_parts else "killed" for part in range(3)}
    settings = StreamsSettings()
    print(
        f"\n{len(sent):,} registrations at {args.rate}/s for {args.seconds:.0f} s; worker 0 SIGKILLed after "
        f"{killed_at[0] - began:.0f} s; logs in {work}"
    )
    print(
        f"session timeout {settings.session_timeout_s:.0f} s, "
        f"transaction timeout {settings.transaction_timeout_s:.0f} s"
    )
    lost = [k for k in sent if k not in seen]
    print(f"profiles missing after 120 s: {len(lost)}")
    print(f"{'partition':<12}{'held by':<12}{'p50 before':>12}{'worst after kill':>18}")
    for part in range(3):
        before = [seen[k] - t for k, (t, p) in sent.items() if p == part and k in seen and t < killed_at[0]]
        after = [seen[k] - t for k, (t, p) in sent.items() if p == part and k in seen and t >= killed_at[0]]
        p50 = statistics.median(before) if before else float("nan")
        worst = max(after) if after else float("nan")
        print(f"{part:<12}{owners[part]:<12}{p50:>11.2f}s{worst:>17.1f}s")


if __name__ == "__main__":
    main()
