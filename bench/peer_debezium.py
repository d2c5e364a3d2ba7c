"""civicbus beside Debezium on the same PostgreSQL table and the same broker, one after the other.

    .venv/bin/python -m bench.peer_debezium [--rows 300000] [--stream-rows 50000] [--latency-rows 200]

Needs the local broker (``civicbus broker start``), the registry (``civicbus registry serve``)
and PostgreSQL with ``wal_level=logical`` (ops/local/postgres.sh sets it); Java 17 and Maven.

The peer is Debezium's PostgreSQL connector 3.6.1.Final (pgoutput) on Kafka Connect standalone
(the broker's Kafka release, JSON converter without schemas, Connect's default 2 GB heap
ceiling), resolved from Maven Central by bench/debezium/pom.xml into .civicbus/bench/debezium.
civicbus is ``civicbus connectors run`` on the shipped household-registration connector, from
the WAL (``pgoutput``) and by query (incrementing by key, initial snapshot), each with 1 and
with 0 encode workers (``--capture``, ``--encode-workers``); exactly-once; poll every 0.1 s;
batches and snapshot chunks of 5,000 rows. Columns read ``civicbus CAPTURE/WORKERS``.

For each system, on a table of ``--rows`` freshly COPYed rows:

- snapshot rows/s: rows / (time the topic held them all − time its first record arrived), so
  neither the JVM's nor Python's start-up counts;
- bulk streaming rows/s: ``--stream-rows`` more rows in one COPY (one transaction) while it
  runs, counted from the COPY's commit to the last of them on the topic;
- CPU per 100k rows, of the snapshot and of the bulk streaming: user + system time the process
  and its children (encode workers) used over that phase, per 100,000 rows; the database's and
  the broker's are not counted (the same work for both systems);
- commit→topic latency p50/p99: ``--latency-rows`` single-row transactions, 20 a second, each
  matched to its record by order (one partition, inserted one after another);
- peak RSS (VmHWM) of the process, plus its children's (civicbus's encode workers): an upper
  bound of their peak together, as library pages both map count twice;
- peak PSS: the process's and its children's proportional sets summed, sampled every 0.25 s
  (``procs.PssWatch``): each shared library page counted once.

Records are counted by a librdkafka consumer reading ``read_committed`` (civicbus's topics are
transactional, so offsets would count commit markers). Prints both and civicbus/Debezium.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import yaml
from confluent_kafka import Consumer, KafkaError

from .connector import connector_file, fill
from .procs import PssWatch, free_port, tree_cpu_s, tree_peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / ".civicbus" / "bench" / "debezium"
TABLE = "bench_peer"


class Arrivals:
    """Counts the records of ``topic`` as they arrive (read_committed), with each arrival's time."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.times: list[float] = []
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
                "topic.metadata.refresh.interval.ms": 500,
                "allow.auto.create.topics": True,
            }
        )
        self._consumer.subscribe([topic])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(10_000, 0.05):
                error = msg.error()
                if error is None:
                    self.times.append(time.monotonic())
                elif error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    print(f"  consumer: {error.str()}", flush=True)

    def wait(self, count: int, alive: Callable[[], bool], timeout_s: float = 1800) -> float:
        """The arrival time of the ``count``-th record."""
        deadline = time.monotonic() + timeout_s
        while len(self.times) < count:
            if not alive():
                raise SystemExit("the process under test exited; see its log")
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(self.times):,} of {count:,} records after {timeout_s:.0f}s")
            time.sleep(0.05)
        return self.times[count - 1]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def resolve() -> Path:
    """Debezium, Kafka Connect and their dependencies in HOME/lib (once per pom)."""
    pom = (ROOT / "bench/debezium/pom.xml").read_bytes()
    lib, marker = HOME / "lib", HOME / "lib" / ".pom.sha256"
    digest = hashlib.sha256(pom).hexdigest()
    if marker.exists() and marker.read_text() == digest:
        return lib
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "pom.xml").write_bytes(pom)
    shutil.rmtree(lib, ignore_errors=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(HOME / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    marker.write_text(digest)
    return lib


def insert_one(conn: Any, n: int) -> float:
    """Insert one row in its own transaction; the time its commit returned."""
    import datetime as dt
    import random

    from civicbus.demo.generate import HUKOU, hukou_row, person

    rng = random.Random(10_000_000 + n)
    row = hukou_row(person(rng), rng, dt.datetime(2026, 1, 1))
    cols = [c.name for c in HUKOU.columns if c.name != "RKID"]
    quoted = ", ".join(f'"{c}"' for c in cols)
    conn.execute(
        f'INSERT INTO "{TABLE}" ({quoted}) VALUES ({", ".join(["%s"] * len(cols))})',
        [str(row[c]) for c in cols],
    )
    conn.commit()
    return time.monotonic()


def measure(
    pg_url: str,
    arrivals: Arrivals,
    alive: Callable[[], bool],
    pid: Callable[[], int],
    args: argparse.Namespace,
) -> dict[str, float]:
    """The four figures for one system already started on a table of ``args.rows`` rows."""
    first = arrivals.wait(1, alive)
    used = tree_cpu_s(pid())
    done = arrivals.wait(args.rows, alive)
    snapshot = (args.rows - 1) / (done - first)
    snapshot_cpu = (tree_cpu_s(pid()) - used) / (args.rows - 1) * 100_000
    print(f"  snapshot: {snapshot:,.0f} rows/s, {snapshot_cpu:.1f} CPU s per 100k rows", flush=True)
    used = tree_cpu_s(pid())
    fill(pg_url, TABLE, args.stream_rows, start=1)
    committed = time.monotonic()
    done = arrivals.wait(args.rows + args.stream_rows, alive)
    streaming = args.stream_rows / (done - committed)
    streaming_cpu = (tree_cpu_s(pid()) - used) / args.stream_rows * 100_000
    print(f"  bulk streaming: {streaming:,.0f} rows/s, {streaming_cpu:.1f} CPU s per 100k rows", flush=True)
    latencies: list[float] = []
    base = args.rows + args.stream_rows
    with psycopg.connect(plain(pg_url)) as conn:
        for n in range(args.latency_rows):
            at = insert_one(conn, n)
            latencies.append(arrivals.wait(base + n + 1, alive) - at)
            time.sleep(max(0.0, 0.05 - (time.monotonic() - at)))
    cuts = statistics.quantiles(latencies, n=100)
    print(f"  commit→topic: p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms", flush=True)
    return {
        "snapshot": snapshot,
        "snapshot_cpu": snapshot_cpu,
        "streaming": streaming,
        "streaming_cpu": streaming_cpu,
        "p50": cuts[49] * 1000,
        "p99": cuts[98] * 1000,
        "rss": tree_peak_rss_mb(pid()),
    }


def measured(
    proc: subprocess.Popen[bytes], arrivals: Arrivals, pg_url: str, args: argparse.Namespace
) -> dict[str, float]:
    """:func:`measure` on the system ``proc`` runs, which is stopped (SIGTERM) afterwards."""
    watch = PssWatch(proc.pid)
    try:
        figures = measure(pg_url, arrivals, lambda: proc.poll() is None, lambda: proc.pid, args)
        figures["pss"] = watch.stop()
        print(f"  peak RSS {figures['rss']:,.0f} MB, peak PSS {figures['pss']:,.0f} MB", flush=True)
        return figures
    finally:
        watch.stop()
        proc.terminate()
        proc.wait(timeout=60)
        arrivals.close()


def run_debezium(pg_url: str, bootstrap: str, args: argparse.Namespace) -> dict[str, float]:
    lib = resolve()
    db = psycopg.conninfo.conninfo_to_dict(plain(pg_url))
    name = f"dbz{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="peer-debezium-"))
    (work / "worker.properties").write_text(
        f"bootstrap.servers={bootstrap}\n"
        "key.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "value.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "key.converter.schemas.enable=false\nvalue.converter.schemas.enable=false\n"
        f"offset.storage.file.filename={work / 'offsets'}\noffset.flush.interval.ms=1000\n"
        f"listeners=http://127.0.0.1:{free_port()}\n"
    )
    (work / "connector.properties").write_text(
        f"name={name}\nconnector.class=io.debezium.connector.postgresql.PostgresConnector\n"
        f"plugin.name=pgoutput\ndatabase.hostname={db.get('host', '127.0.0.1')}\n"
        f"database.port={db.get('port', 5432)}\ndatabase.user={db['user']}\n"
        f"database.password={db['password']}\ndatabase.dbname={db['dbname']}\n"
        f"topic.prefix={name}\ntable.include.list=public.{TABLE}\nslot.name={name}\n"
        f"publication.name={name}\npublication.autocreate.mode=filtered\nsnapshot.mode=initial\n"
        "poll.interval.ms=100\n"  # as civicbus's poll interval here (Debezium's default: 500)
    )
    (work / "log4j2.properties").write_text(
        "status = warn\nappender.file.type = File\nappender.file.name = FILE\n"
        f"appender.file.fileName = {work / 'connect.log'}\nappender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\nrootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = FILE\n"
    )
    print(f"[debezium] filling {TABLE} with {args.rows:,} rows …", flush=True)
    fill(pg_url, TABLE, args.rows)
    arrivals = Arrivals(bootstrap, f"{name}.public.{TABLE}")
    proc = subprocess.Popen(
        [
            "java",
            "-Xms256m",
            "-Xmx2g",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={work / 'log4j2.properties'}",
            "-cp",
            f"{lib}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(work / "worker.properties"),
            str(work / "connector.properties"),
        ],
        stdout=open(work / "stdout.log", "wb"),  # noqa: SIM115 - the child writes it
        stderr=subprocess.STDOUT,
    )
    print(f"  Kafka Connect pid {proc.pid}, logs in {work}", flush=True)
    try:
        return measured(proc, arrivals, pg_url, args)
    finally:
        with psycopg.connect(plain(pg_url), autocommit=True) as conn:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            conn.execute(f'DROP PUBLICATION IF EXISTS "{name}"')


def run_civicbus(pg_url: str, bootstrap: str, args: argparse.Namespace, run: str) -> dict[str, float]:
    """civicbus with ``run`` = ``CAPTURE/WORKERS``: a capture type and its encode workers."""
    capture, workers = run.split("/")
    work = Path(tempfile.mkdtemp(prefix="peer-civicbus-"))
    topic = connector_file(work / "c.yaml", pg_url, TABLE, poll_interval_s=0.1, capture=capture)
    print(
        f"[civicbus, {capture}, {workers} encode workers] filling {TABLE} with {args.rows:,} rows …",
        flush=True,
    )
    fill(pg_url, TABLE, args.rows)
    if capture == "pgoutput":
        with psycopg.connect(plain(pg_url), autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "{TABLE}" REPLICA IDENTITY FULL')
    arrivals = Arrivals(bootstrap, topic)
    env = {
        **os.environ,
        "CIVICBUS_CONNECTOR_METRICS_PORT": str(free_port()),
        "CIVICBUS_CONNECTOR_ENCODE_WORKERS": workers,
        "CIVICBUS_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicbus", "connectors", "run", str(work / "c.yaml")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "c.log", "wb"),  # noqa: SIM115 - the child writes it
    )
    print(f"  civicbus pid {proc.pid}, log in {work}", flush=True)
    try:
        return measured(proc, arrivals, pg_url, args)
    finally:
        if capture == "pgoutput":
            slot = yaml.safe_load((work / "c.yaml").read_text(encoding="utf-8"))["source"]["slot"]
            with psycopg.connect(plain(pg_url), autocommit=True) as conn:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                conn.execute(f'DROP PUBLICATION IF EXISTS "{slot}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--stream-rows", type=int, default=50_000)
    parser.add_argument("--latency-rows", type=int, default=200)
    parser.add_argument(
        "--capture",
        choices=["pgoutput", "query"],
        action="append",
        help="civicbus's capture(s) to run beside Debezium (default: pgoutput, then query)",
    )
    parser.add_argument(
        "--encode-workers",
        type=int,
        action="append",
        help="civicbus's encode workers, each run with every capture (default: 1, then 0)",
    )
    parser.add_argument("--no-debezium", action="store_true", help="civicbus only (profiling)")
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    pg_url = os.environ.get(
        "CIVICBUS_BENCH_POSTGRES_URL", "postgresql+psycopg://civicbus:civicbus@127.0.0.1:54329/civicbus"
    )
    with psycopg.connect(plain(pg_url)) as conn:
        level = conn.execute("SHOW wal_level").fetchone()
    if level is None or level[0] != "logical":
        raise SystemExit(f"PostgreSQL's wal_level is {level}: run ops/local/postgres.sh (it sets logical)")
    captures = [
        f"{capture}/{workers}"
        for capture in args.capture or ["pgoutput", "query"]
        for workers in args.encode_workers or [1, 0]
    ]
    peer = None if args.no_debezium else run_debezium(pg_url, bootstrap, args)
    ours = {capture: run_civicbus(pg_url, bootstrap, args, capture) for capture in captures}
    print(f"\n{args.rows:,} rows, {args.stream_rows:,} in one COPY, {args.latency_rows} single rows at 20/s")
    header = f"{'':<30}{'Debezium':>10}" + "".join(f"{'civicbus ' + c:>18}{'ratio':>7}" for c in captures)
    print(header)
    for key, what, unit in (
        ("snapshot", "snapshot", "rows/s"),
        ("snapshot_cpu", "snapshot CPU per 100k rows", "s"),
        ("streaming", "bulk streaming", "rows/s"),
        ("streaming_cpu", "streaming CPU per 100k rows", "s"),
        ("p50", "commit→topic p50", "ms"),
        ("p99", "commit→topic p99", "ms"),
        ("rss", "peak RSS", "MB"),
        ("pss", "peak PSS", "MB"),
    ):
        digits = 1 if unit == "s" else 0
        line = f"{what + ' (' + unit + ')':<30}" + (f"{peer[key]:>10,.{digits}f}" if peer else f"{'-':>10}")
        for c in captures:
            ratio = f"{ours[c][key] / peer[key]:>7.2f}" if peer else f"{'-':>7}"
            line += f"{ours[c][key]:>18,.{digits}f}{ratio}"
        print(line)
    print("ratio: civicbus / Debezium (above 1 is better for rows/s, worse for s, ms and MB)")


if __name__ == "__main__":
    main()
