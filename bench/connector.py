"""Connector throughput against the producer's ceiling, measured in one run.

    .venv/bin/python -m bench.connector [--rows 1000000] [--stream-rows 100000]

Needs the local broker and registry (``civicbus demo`` or ``civicbus broker start`` +
``civicbus registry serve``) and PostgreSQL (ops/local/postgres.sh; CIVICBUS_BENCH_POSTGRES_URL).

1. Fills a PostgreSQL table with N household-registration rows (the Resident schema's source).
2. Runs ``civicbus connectors run`` on it as a separate process (incrementing mode with
   ``initial_snapshot``) and times the snapshot of all N rows by key, then the streaming of M
   rows inserted while it runs; samples the process's peak RSS (VmHWM). It does this twice, on
   a fresh table each time: with exactly-once delivery (the default: a Kafka transaction per
   batch) and with at-least-once, and reads progress from the connector's own
   ``civicbus_connector_rows_produced_total`` (offsets would count transaction markers).
3. The ceiling: the same client (kafka-python, same producer settings) producing N pre-encoded
   messages of the connector's average key and value size, with no database and no mapping;
   and aiokafka (faust's client) and confluent-kafka (librdkafka) doing the same: whether the
   client is the bottleneck, and what the candidates for the connector's producer reach.
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

from .procs import free_port, peak_rss_mb, scrape

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


def connector_file(path: Path, pg_url: str, table: str, poll_interval_s: float) -> str:
    """Write the shipped household-registration connector, reading ``table`` by key with an
    initial snapshot, to ``path``; returns its (new) topic."""
    name = f"bench-{uuid.uuid4().hex[:6]}"
    topic = f"bench.resident.{name}"
    cfg = yaml.safe_load((ROOT / "connectors/examples/gongan-hukou.yaml").read_text(encoding="utf-8"))
    cfg.update(name=name, batch_size=5000, poll_interval_s=poll_interval_s)
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
    pg_url: str, delivery: str, rows: int, stream_rows: int, extra: dict[str, str] | None = None
) -> tuple[float, float, float, float, str]:
    """(snapshot rows/s, streaming rows/s, RSS after snapshot MB, peak RSS MB, topic) for one run."""
    table = "bench_resident"
    print(f"[{delivery}] filling {table} with {rows:,} rows …", flush=True)
    print(f"  COPY took {fill(pg_url, table, rows):.1f}s", flush=True)
    work = Path(tempfile.mkdtemp())
    topic = connector_file(work / "c.yaml", pg_url, table, poll_interval_s=0.2)
    port = free_port()
    env = {
        **os.environ,
        "CIVICBUS_CONNECTOR_METRICS_PORT": str(port),
        "CIVICBUS_CONNECTOR_DELIVERY": delivery,
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
        rss_after_snapshot = peak_rss_mb(proc.pid)
        fill(pg_url, table, stream_rows, start=1)
        stream = wait_for(port, rows + stream_rows, proc)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return rows / snap, stream_rows / stream, rss_after_snapshot, rss, topic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stream-rows", type=int, default=100_000)
    parser.add_argument(
        "--crc32c-baseline",
        action="store_true",
        help="also run exactly-once with kafka-python's pure-Python CRC",
    )
    args = parser.parse_args()
    bootstrap = os.environ.get("CIVICBUS_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    pg_url = os.environ.get(
        "CIVICBUS_BENCH_POSTGRES_URL", "postgresql+psycopg://civicbus:civicbus@127.0.0.1:54329/civicbus"
    )
    runs = {
        d: run_connector(pg_url, d, args.rows, args.stream_rows) for d in ("exactly_once", "at_least_once")
    }
    if args.crc32c_baseline:
        runs["exactly_once, pure-Python CRC"] = run_connector(
            pg_url, "exactly_once", args.rows, args.stream_rows, without_crc32c()
        )
    key_size, value_size = sizes(bootstrap, runs["exactly_once"][4])
    key, value = os.urandom(key_size), os.urandom(value_size)
    kp = ceiling_kafka_python(bootstrap, args.rows, key, value)
    aio = ceiling_aiokafka(bootstrap, args.rows, key, value)
    rdkafka = ceiling_confluent(bootstrap, args.rows, key, value)
    print(f"\nmessages: key {key_size} B, value {value_size} B (Avro, Confluent framing)")
    print(f"{'what':<64}{'rows/s':>12}{'vs ceiling':>12}")
    print(f"{'ceiling: kafka-python, pre-encoded':<64}{kp:>12,.0f}{1:>12.2f}")
    print(f"{'aiokafka, pre-encoded (same settings)':<64}{aio:>12,.0f}{aio / kp:>12.2f}")
    print(f"{'confluent-kafka, pre-encoded (same settings)':<64}{rdkafka:>12,.0f}{rdkafka / kp:>12.2f}")
    for delivery, (snap_rate, stream_rate, rss_snap, rss, _) in runs.items():
        what = f"connector {delivery} snapshot, {args.rows:,} rows"
        print(f"{what:<64}{snap_rate:>12,.0f}{snap_rate / kp:>12.2f}")
        what = f"connector {delivery} streaming, {args.stream_rows:,} new rows"
        print(f"{what:<64}{stream_rate:>12,.0f}{stream_rate / kp:>12.2f}")
        print(f"  peak RSS: {rss_snap:.0f} MB after the snapshot, {rss:.0f} MB at the end")
    eos, alo = runs["exactly_once"], runs["at_least_once"]
    print(
        f"\nexactly-once cost: snapshot {1 - eos[0] / alo[0]:+.1%}, streaming {1 - eos[1] / alo[1]:+.1%} "
        "(share of at-least-once throughput given up; target < 15%)"
    )


if __name__ == "__main__":
    main()
