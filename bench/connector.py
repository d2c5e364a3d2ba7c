"""Connector throughput against the producer's ceiling, measured in one run.

    .venv/bin/python -m bench.connector [--rows 1000000] [--stream-rows 100000]

Needs the local broker and registry (``civicbus demo`` or ``civicbus broker start`` +
``civicbus registry serve``) and PostgreSQL (ops/local/postgres.sh; CIVICBUS_BENCH_POSTGRES_URL).

1. Fills a PostgreSQL table with N household-registration rows (the Resident schema's source).
2. Runs ``civicbus connectors run`` on it as a separate process and times the snapshot of all N
   rows, then the streaming of M rows inserted in one COPY while it runs; samples the process's
   peak RSS (VmHWM). It does this on a fresh table for each way of running it: capture from the
   WAL (``pgoutput``) or by query (incrementing, ``initial_snapshot``), the producer client
   (confluent-kafka or kafka-python, ``CIVICBUS_CONNECTOR_PRODUCER``), exactly-once (a Kafka
   transaction per batch) or at-least-once. Progress is the connector's own
   ``civicbus_connector_rows_produced_total`` (offsets would count transaction markers).
3. The ceiling: the connector's producer client (confluent-kafka, same settings) producing N
   pre-encoded messages of the connector's average key and value size, with no database and no
   mapping; kafka-python and aiokafka (faust's client) doing the same beside it.
Prints rows/s for each and the connector/ceiling ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from civicbus.demo.generate import HUKOU, hukou_row, person

from .procs import free_port, scrape, tree_peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
PRODUCER = {"acks": "all", "enable_idempotence": True, "linger_ms": 5, "batch_size": 256 * 1024}


def fill(pg_url: str, table: str, rows: int, start: int = 0) -> float:
    """COPY ``rows`` generated rows into ``table``; returns seconds taken."""
    rng = random.Random(start)
    cols = [c.name for c in HUKOU.columns if c.name != "RKID"]
    began = time.monotonic()
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur:
            if start == 0:
                cur.execute(f'DROP TABLE IF EXISTS "{table}"')
                # the sample registration table's columns, all text as in the legacy system
                typed = ", ".join(f'"{c}" {"timestamp NOT NULL" if c == "GXSJ" else "text"}' for c in cols)
                cur.execute(f'CREATE TABLE "{table}" ("RKID" bigserial PRIMARY KEY, {typed})')
            buf = io.StringIO()
            import datetime as dt

            now = dt.datetime(2026, 1, 1)
            for _ in range(rows):
                row = hukou_row(person(rng), rng, now)
                buf.write("\t".join(str(row[c]) for c in cols) + "\n")
            buf.seek(0)
            quoted = ", ".join(f'"{c}"' for c in cols)
            with cur.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                while chunk := buf.read(1 << 20):
                    copy.write(chunk)
        conn.commit()
    return time.monotonic() - began


def produced(port: int) -> float:
    """The connector's delivered-rows counter, scraped from its /metrics."""
    return scrape(port, "civicbus_connector_rows_produced_total")


def sizes(bootstrap: str, topic: str, sample: int = 2000) -> tuple[int, int]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        isolation_level="read_committed",
    )
    consumer.assign([TopicPartition(topic, 0)])
    keys = values = n = 0
    for rec in consumer:
        keys += len(rec.key)
        values += len(rec.value)
        n += 1
        if n >= sample:
            break
    consumer.close()
    return keys // max(n, 1), values // max(n, 1)


def wait_for(port: int, count: int, proc: subprocess.Popen[bytes]) -> float:
    began = time.monotonic()
    while produced(port) < count:
        if proc.poll() is not None:
            raise SystemExit(f"connector exited with {proc.returncode}")
        time.sleep(0.2)
    return time.monotonic() - began


def ceiling_kafka_python(bootstrap: str, n: int, key: bytes, value: bytes) -> float:
    topic = f"bench-ceiling-{uuid.uuid4().hex[:6]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, **PRODUCER)
    began = time.monotonic()
    for _ in range(n):
        producer.send(topic, key=key, value=value)
    producer.flush()
    elapsed = time.monotonic() - began
    producer.close()
    return n / elapsed


def ceiling_aiokafka(bootstrap: str, n: int, key: bytes, value: bytes) -> float:
    from aiokafka import AIOKafkaProducer

    async def run() -> float:
        topic = f"bench-aio-{uuid.uuid4().hex[:6]}"
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        began = time.monotonic()
        batch = []
        for _ in range(n):
            batch.append(await producer.send(topic, key=key, value=value))
            if len(batch) >= 10000:
                await asyncio.gather(*batch)
                batch.clear()
        await asyncio.gather(*batch)
        elapsed = time.monotonic() - began
        await producer.stop()
        return n / elapsed

    return asyncio.run(run())


def connector_file(
    path: Path, pg_url: str, table: str, poll_interval_s: float, capture: str = "query"
) -> str:
    """Write the shipped household-registration connector reading ``table`` to ``path``: by query
    (incrementing by key, initial snapshot) or from the WAL (``pgoutput``, slot and publication
    named after the connector); returns its (new) topic."""
    name = f"bench-{uuid.uuid4().hex[:6]}"
    topic = f"bench.resident.{name}"
    example = "gongan-hukou-wal.yaml" if capture == "pgoutput" else "gongan-hukou.yaml"
    cfg = yaml.safe_load((ROOT / "connectors/examples" / example).read_text(encoding="utf-8"))
    cfg.update(name=name, batch_size=5000, poll_interval_s=poll_interval_s)
    if capture == "pgoutput":
        cfg["source"] |= {"url": pg_url, "table": table, "slot": name.replace("-", "_"), "chunk_size": 5000}
    else:
        cfg["source"] |= {"url": pg_url, "table": table, "mode": "incrementing", "initial_snapshot": True}
        for timestamp_only in ("timestamp_column", "rescan_window"):
            cfg["source"].pop(timestamp_only, None)
    cfg["target"] |= {"topic": topic, "partitions": 1}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return topic


def ceiling_confluent(bootstrap: str, n: int, key: bytes, value: bytes) -> float:
    """confluent-kafka (librdkafka) with the same settings: a candidate for the connector's producer."""
    from confluent_kafka import Producer

    topic = f"bench-rdkafka-{uuid.uuid4().hex[:6]}"
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": 256 * 1024,
        }
    )
    began = time.monotonic()
    for _ in range(n):
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:  # its queue is full: let deliveries drain it
                producer.poll(0.01)
    producer.flush(120)
    return n / (time.monotonic() - began)


def without_crc32c() -> dict[str, str]:
    """Environment in which ``import crc32c`` fails, so kafka-python computes CRC-32C in pure
    Python, as it did before civicbus depended on the package: the baseline of that choice."""
    shim = Path(tempfile.mkdtemp(prefix="no-crc32c-"))
    (shim / "crc32c.py").write_text('raise ImportError("hidden by bench/connector.py")\n')
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))}


def run_connector(
    pg_url: str,
    delivery: str,
    rows: int,
    stream_rows: int,
    extra: dict[str, str] | None = None,
    producer: str = "confluent-kafka",
    capture: str = "query",
) -> tuple[float, float, float, float, str]:
    """(snapshot rows/s, streaming rows/s, RSS after snapshot MB, peak RSS MB, topic) for one run."""
    table = "bench_resident"
    print(f"[{capture}, {producer}, {delivery}] filling {table} with {rows:,} rows …", flush=True)
    print(f"  COPY took {fill(pg_url, table, rows):.1f}s", flush=True)
    work = Path(tempfile.mkdtemp())
    topic = connector_file(work / "c.yaml", pg_url, table, poll_interval_s=0.2, capture=capture)
    if capture == "pgoutput":
        with psycopg.connect(
            pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        ) as conn:
            conn.execute(f'ALTER TABLE "{table}" REPLICA IDENTITY FULL')
    port = free_port()
    env = {
        **os.environ,
        "CIVICBUS_CONNECTOR_METRICS_PORT": str(port),
        "CIVICBUS_CONNECTOR_DELIVERY": delivery,
        "CIVICBUS_CONNECTOR_PRODUCER": producer,
        "CIVICBUS_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }
    log = open(work / "c.log", "wb")  # noqa: SIM115 - the child writes it until terminated
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicbus", "connectors", "run", str(work / "c.yaml")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        snap = wait_for(port, rows, proc)
        rss_after_snapshot = tree_peak_rss_mb(proc.pid)
        fill(pg_url, table, stream_rows, start=1)
        stream = wait_for(port, rows + stream_rows, proc)
        rss = tree_peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if capture == "pgoutput":
            slot = yaml.safe_load((work / "c.yaml").read_text(encoding="utf-8"))["source"]["slot"]
            with psycopg.connect(
                pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
            ) as conn:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                conn.execute(f'DROP PUBLICATION IF EXISTS "{slot}"')
    return rows / snap, stream_rows / stream, rss_after_snapshot, rss, topic


RUNS = {
    "log (pgoutput), confluent-kafka, exactly-once": ("pgoutput", "confluent-kafka", "exactly_once"),
    "query, confluent-kafka, exactly-once": ("query", "confluent-kafka", "exactly_once"),
    "query, confluent-kafka, at-least-once": ("query", "confluent-kafka", "at_least_once"),
    "query, kafka-python, exactly-once": ("query", "kafka-python", "exactly_once"),
    "query, kafka-python, at-least-once": ("query", "kafka-python", "at_least_once"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stream-rows", type=int, default=100_000)
    parser.add_argument(
        "--crc32c-baseline",
        action="store_true",
        help="also run exactly-once on kafka-python with its pure-Python CRC",
    )
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    pg_url = os.environ.get(
        "CIVICBUS_BENCH_POSTGRES_URL", "postgresql+psycopg://civicbus:civicbus@127.0.0.1:54329/civicbus"
    )
    runs = {
        name: run_connector(pg_url, delivery, args.rows, args.stream_rows, producer=producer, capture=capture)
        for name, (capture, producer, delivery) in RUNS.items()
    }
    if args.crc32c_baseline:
        runs["query, kafka-python with pure-Python CRC, exactly-once"] = run_connector(
            pg_url, "exactly_once", args.rows, args.stream_rows, without_crc32c(), producer="kafka-python"
        )
    key_size, value_size = sizes(bootstrap, runs["query, confluent-kafka, exactly-once"][4])
    key, value = os.urandom(key_size), os.urandom(value_size)
    rdkafka = ceiling_confluent(bootstrap, args.rows, key, value)
    kp = ceiling_kafka_python(bootstrap, args.rows, key, value)
    aio = ceiling_aiokafka(bootstrap, args.rows, key, value)
    print(f"\nmessages: key {key_size} B, value {value_size} B (Avro, Confluent framing)")
    print(f"{'what':<72}{'rows/s':>12}{'vs ceiling':>12}")
    print(
        f"{'ceiling: confluent-kafka (the connector producer), pre-encoded':<72}{rdkafka:>12,.0f}{1:>12.2f}"
    )
    print(f"{'kafka-python, pre-encoded (same settings)':<72}{kp:>12,.0f}{kp / rdkafka:>12.2f}")
    print(f"{'aiokafka, pre-encoded (same settings)':<72}{aio:>12,.0f}{aio / rdkafka:>12.2f}")
    for name, (snap_rate, stream_rate, rss_snap, rss, _) in runs.items():
        what = f"connector {name}: snapshot"
        print(f"{what:<72}{snap_rate:>12,.0f}{snap_rate / rdkafka:>12.2f}")
        what = f"connector {name}: streaming"
        print(f"{what:<72}{stream_rate:>12,.0f}{stream_rate / rdkafka:>12.2f}")
        print(f"  peak RSS: {rss_snap:.0f} MB after the snapshot, {rss:.0f} MB at the end")
    eos, alo = runs["query, confluent-kafka, exactly-once"], runs["query, confluent-kafka, at-least-once"]
    print(
        f"\nexactly-once cost: snapshot {1 - eos[0] / alo[0]:+.1%}, streaming {1 - eos[1] / alo[1]:+.1%} "
        "(share of at-least-once throughput given up; target < 15%)"
    )
    kp_eos = runs["query, kafka-python, exactly-once"]
    print(
        f"confluent-kafka / kafka-python as the connector's producer (exactly-once): snapshot "
        f"{eos[0] / kp_eos[0]:.2f}x, streaming {eos[1] / kp_eos[1]:.2f}x"
    )


if __name__ == "__main__":
    main()
