"""The resident view's throughput against a bare consumer's ceiling, and commit→view latency.

    .venv/bin/python -m bench.streams [--residents 120000] [--rate 500] [--seconds 30]
                                      [--partitions 4] [--processes CPUS]

Needs the local broker and registry (``civicbus broker start`` + ``civicbus registry serve``)
and, for the latency part, PostgreSQL (ops/local/postgres.sh; CIVICBUS_BENCH_POSTGRES_URL).

1. Input: the demo's two departmental databases (SQLite) for N residents, put on fresh topics
   by the two demo connectors, so the worker reads exactly what it reads in production.
2. The ceiling: a bare aiokafka consumer (faust's own client) reading those topics from the
   beginning, without decoding, in the same run.
3. One ``civicbus streams worker`` folding them into the resident view from the beginning, with
   one engine process and with ``--processes`` (default: the CPUs): events/s from its own
   processed-events counter, from the moment its last process got its partitions to 90 % of the
   events (start-up, rebalances and the tail excluded), and the peak RSS of its processes
   together. The input topics have ``--partitions`` (default 4, so that 1, 2 or 4 processes get
   equal shares).
4. Latency: a PostgreSQL household-registration table receiving ``rate`` new residents a second
   for ``seconds``, the connector polling every 0.5 s, a worker, and a consumer of the view:
   the time from each row's commit to its profile's first appearance on the view topic.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import yaml
from kafka import KafkaConsumer, TopicPartition

from civicbus.demo.generate import HUKOU, generate, hukou_row, person
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder
from civicbus.streams.settings import usable_cpus

from .connector import fill
from .procs import free_port, scrape, tree_peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "connectors" / "examples"
VIEWS = ROOT / "streams" / "views" / "examples"
EVENTS = "civicbus_streams_events_processed_total"
PRODUCED = "civicbus_connector_rows_produced_total"


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - the child writes it until terminated
    return subprocess.Popen(
        [sys.executable, "-m", "civicbus", *args],
        env={**os.environ, "CIVICBUS_LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.DEVNULL,
        stderr=out,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_metric(port: int, metric: str, count: float, proc: subprocess.Popen[bytes]) -> None:
    while scrape(port, metric) < count:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        time.sleep(0.2)


def connector_file(work: Path, example: str, topic: str, partitions: int = 3, **source: Any) -> Path:
    cfg = yaml.safe_load((EXAMPLES / example).read_text(encoding="utf-8"))
    cfg["name"] = f"{cfg['name']}-{uuid.uuid4().hex[:6]}"
    cfg["source"] |= source
    cfg["target"] |= {"topic": topic, "partitions": partitions}
    path = work / f"{topic}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def worker_env(
    work: Path,
    resident_topic: str,
    subsidy_topic: str,
    view_topic: str,
    port: int,
    data: Path | None = None,
    *,
    partitions: int = 3,
    processes: int = 1,
) -> dict[str, str]:
    """A worker of its own running a copy of the shipped resident view over the given topics
    (its stores in ``data``, a fresh folder by default) in ``processes`` engine processes."""
    tag = uuid.uuid4().hex[:6]
    views = work / f"views-{tag}"
    views.mkdir()
    spec = yaml.safe_load((VIEWS / "resident-profile.yaml").read_text(encoding="utf-8"))
    spec |= {"name": f"bench-{tag}", "topic": view_topic, "dead_letters": f"bench.deadletter.{tag}"}
    spec["sources"][0]["topic"], spec["sources"][1]["topic"] = resident_topic, subsidy_topic
    for n, extra in enumerate(spec["sources"][2:]):  # 卫健, 残联, 人社: quiet in the bench
        extra["topic"] = f"bench.quiet{n}.{tag}"
    (views / "resident-profile.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return {
        "CIVICBUS_STREAMS_APP_ID": f"bench-streams-{tag}",
        "CIVICBUS_STREAMS_VIEWS_DIR": str(views),
        "CIVICBUS_STREAMS_METRICS_PORT": str(port),
        "CIVICBUS_STREAMS_DATA_DIR": str(data or tempfile.mkdtemp(prefix="bench-streams-")),
        "CIVICBUS_STREAMS_PARTITIONS": str(partitions),
        "CIVICBUS_STREAMS_PROCESSES": str(processes),
    }


def prepare_input(work: Path, residents: int, partitions: int = 3) -> tuple[str, str, int]:
    """Fresh resident and subsidy topics holding the demo connectors' events; (topics…, count)."""
    demo = work / "demo"
    demo.mkdir()
    h, m = generate(
        f"sqlite:///{demo / 'hukou.db'}", f"sqlite:///{demo / 'minzheng.db'}", residents, bad_rate=0
    )
    tag = uuid.uuid4().hex[:6]
    resident, subsidy = f"bench.resident.{tag}", f"bench.subsidy.{tag}"
    files = [
        connector_file(work, "gongan-hukou.yaml", resident, partitions, url=f"sqlite:///{demo / 'hukou.db'}"),
        connector_file(
            work, "minzheng-subsidy.yaml", subsidy, partitions, url=f"sqlite:///{demo / 'minzheng.db'}"
        ),
    ]
    port = free_port()
    env = {"CIVICBUS_CONNECTOR_METRICS_PORT": str(port), "CIVICBUS_DEMO_DIR": str(demo)}
    proc = spawn(["connectors", "run", *map(str, files)], env, work / "connectors.log")
    print(f"• input: {h:,} registrations and {m:,} subsidies through the demo connectors …", flush=True)
    try:
        wait_metric(port, PRODUCED, h + m, proc)
    finally:
        stop(proc)
    return resident, subsidy, h + m


def ceiling(bootstrap: str, topics: list[str], count: int) -> float:
    """Messages/s of a bare aiokafka consumer reading ``topics`` from the beginning."""
    from aiokafka import AIOKafkaConsumer

    async def run() -> float:
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=f"bench-ceiling-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        seen, began = 0, 0.0
        try:
            while seen < count:
                batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
                if batch and not began:
                    began = time.monotonic()
                seen += sum(len(records) for records in batch.values())
        finally:
            await consumer.stop()
        return seen / (time.monotonic() - began)

    return asyncio.run(run())


def fold_rate(
    work: Path, resident: str, subsidy: str, count: int, partitions: int, processes: int
) -> tuple[float, float]:
    """(events/s, peak RSS MB) of one worker of ``processes`` engine processes folding ``count``
    events from the beginning. The rate is taken from the moment its last process got its
    partitions (from its log) to 90 % of the events: start-up, the rebalances while its processes
    join the group, and the tail of the last partitions are left out."""
    port = free_port()
    view = f"bench.view.{uuid.uuid4().hex[:6]}"
    env = worker_env(work, resident, subsidy, view, port, partitions=partitions, processes=processes)
    log = work / f"worker-{processes}.log"
    proc = spawn(["streams", "worker"], {**env, "CIVICBUS_LOG_LEVEL": "INFO"}, log)
    samples: list[tuple[float, float]] = []  # (wall clock, events folded)
    try:
        while not samples or samples[-1][1] < count * 0.9:
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited with {proc.returncode}; see {log}")
            samples.append((time.time(), scrape(port, EVENTS)))
            time.sleep(0.1)
        rss = tree_peak_rss_mb(proc.pid)
    finally:
        stop(proc)
    settled = max(
        dt.datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp()
        for line in log.read_text(encoding="utf-8").splitlines()
        if '"streams.assigned"' in line
    )
    window = [sample for sample in samples if sample[0] >= settled]
    if len(window) < 2:
        raise SystemExit(
            f"{processes} processes: the group settled after 90 % of the events; raise --residents"
        )
    (t0, n0), (t1, n1) = window[0], window[-1]
    if n0 > count * 0.5:
        print(f"  ({processes} processes: the group settled after {n0:,.0f} events; raise --residents)")
    return (n1 - n0) / (t1 - t0), rss


def latency(work: Path, bootstrap: str, registry: str, pg_url: str, rate: int, seconds: float) -> list[float]:
    """Seconds from each inserted row's commit to its profile on the view topic."""
    table = f"bench_latency_{uuid.uuid4().hex[:6]}"
    fill(pg_url, table, 0)
    tag = uuid.uuid4().hex[:6]
    resident, view = f"bench.lat.resident.{tag}", f"bench.lat.view.{tag}"
    source = {"url": pg_url, "table": table, "mode": "incrementing", "initial_snapshot": True}
    cfg_path = connector_file(work, "gongan-hukou.yaml", resident, **source)
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    for timestamp_only in ("timestamp_column", "rescan_window"):
        cfg["source"].pop(timestamp_only, None)
    cfg["poll_interval_s"] = 0.5
    cfg_path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    wport, cport = free_port(), free_port()
    worker = spawn(
        ["streams", "worker"],
        worker_env(work, resident, f"bench.lat.subsidy.{tag}", view, wport),
        work / "lat-worker.log",
    )
    connector = spawn(
        ["connectors", "run", str(cfg_path)],
        {"CIVICBUS_CONNECTOR_METRICS_PORT": str(cport)},
        work / "lat-c.log",
    )
    seen: dict[str, float] = {}
    done = threading.Event()
    reader = threading.Thread(target=_watch_view, args=(bootstrap, registry, view, seen, done), daemon=True)
    reader.start()
    committed: dict[str, float] = {}
    try:
        # one row first: the worker has joined its group and the connector is streaming once it shows
        warm: dict[str, float] = {}
        _insert_steadily(pg_url, table, 1, 0.01, warm)
        while not warm.keys() <= seen.keys():
            for proc in (worker, connector):
                if proc.poll() is not None:
                    raise SystemExit(f"{proc.args} exited with {proc.returncode}")
            time.sleep(0.2)
        _insert_steadily(pg_url, table, rate, seconds, committed)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(seen.keys() & committed.keys()) < len(committed):
            time.sleep(0.2)
    finally:
        done.set()
        stop(connector)
        stop(worker)
    missing = len(committed.keys() - seen.keys())
    if missing:
        print(f"  {missing} of {len(committed)} rows did not reach the view within 60 s", flush=True)
    return sorted(seen[k] - committed[k] for k in committed.keys() & seen.keys())


def _insert_steadily(pg_url: str, table: str, rate: int, seconds: float, committed: dict[str, float]) -> None:
    cols = [c.name for c in HUKOU.columns if c.name != "RKID"]
    rng = random.Random(time.time_ns())
    per_tick, tick = max(rate // 10, 1), 0.1
    quoted = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join(["%s"] * len(cols))
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < seconds:
            rows = [hukou_row(person(rng), rng, dt.datetime.now()) for _ in range(per_tick)]
            with conn.cursor() as cur:
                cur.executemany(
                    f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', [[r[c] for c in cols] for r in rows]
                )
            conn.commit()
            now = time.monotonic()
            for r in rows:
                committed[str(r["GMSFHM"]).upper()] = now
            n += 1
            time.sleep(max(0.0, began + n * tick - time.monotonic()))


def _watch_view(
    bootstrap: str, registry: str, topic: str, seen: dict[str, float], done: threading.Event
) -> None:
    decode = AvroDecoder(RegistryClient(registry))
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    try:
        while not done.is_set():
            if not consumer.assignment():
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    time.sleep(0.2)
                    continue
                consumer.assign([TopicPartition(topic, p) for p in parts])
            for records in consumer.poll(timeout_ms=100).values():
                now = time.monotonic()
                for rec in records:
                    seen.setdefault(str(decode(rec.key)), now)
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=120_000)
    parser.add_argument("--rate", type=int, default=500, help="rows/s inserted for the latency part")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--partitions", type=int, default=4, help="of the input topics (the demo's have 3)")
    parser.add_argument(
        "--processes", type=int, default=usable_cpus(), help="of the worker measured beside one of 1 process"
    )
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    registry = os.environ.get("CIVICBUS_REGISTRY_URL", "http://127.0.0.1:8081")
    pg_url = os.environ.get(
        "CIVICBUS_BENCH_POSTGRES_URL", "postgresql+psycopg://civicbus:civicbus@127.0.0.1:54329/civicbus"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    resident, subsidy, count = prepare_input(work, args.residents, args.partitions)
    top = ceiling(bootstrap, [resident, subsidy], count)
    folds = {
        n: fold_rate(work, resident, subsidy, count, args.partitions, n) for n in sorted({1, args.processes})
    }
    waits = latency(work, bootstrap, registry, pg_url, args.rate, args.seconds)
    print(f"\n{count:,} events (registrations and subsidies, Avro, {args.partitions} partitions each)")
    print(f"logs in {work}")
    print(f"{'what':<72}{'events/s':>12}{'vs ceiling':>12}")
    print(f"{'ceiling: bare aiokafka consumer, no decoding':<72}{top:>12,.0f}{1:>12.2f}")
    for n, (folded, rss) in folds.items():
        what = (
            f"streams worker, resident view, {n} engine process{'es' if n > 1 else ''}, peak RSS {rss:.0f} MB"
        )
        print(f"{what:<72}{folded:>12,.0f}{folded / top:>12.2f}")
    if waits:
        p50 = statistics.median(waits)
        p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
        print(
            f"commit→view at {args.rate} rows/s for {args.seconds:.0f} s (PostgreSQL, connector poll 0.5 s): "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {waits[-1] * 1000:.0f} ms ({len(waits)} rows)"
        )


if __name__ == "__main__":
    main()
