"""The encode pool: real worker processes give exactly the events the connector's own builder
gives, in order, and a worker that dies or never starts costs nothing but the parallelism."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
from typing import Any

import fastavro
import pytest

from civicbus.connectors.base import SourceRow, Transaction
from civicbus.connectors.encode_pool import EncodePool
from civicbus.connectors.events import Event, EventSpec, Rejected
from civicbus.connectors.mapping import Rule
from civicbus.ops import metrics
from civicbus.schemas import model

from .test_mapping import SUBSIDY_RULES

ENVELOPE = model.envelope("Subsidy")
SPEC = EventSpec(
    rules={name: Rule.of(rule) for name, rule in SUBSIDY_RULES.items()},
    entity=model.schema("Subsidy"),
    zone=dt.UTC,
    key_field="id_number",
    source={"database": "db", "table": "t", "department": "民政", "system": "s", "connector": "c"},
    key_subject="k",
    key_schema=model.KEY_SCHEMA,
    key_id=7,
    value_subject="v",
    value_schema=ENVELOPE,
    value_id=8,
)
PARSED = fastavro.parse_schema(ENVELOPE)


def rows(n: int) -> list[SourceRow]:
    """``n`` rows: every 50th has no ID number (rejected), every 70th is bad input, some updates."""
    out = []
    for i in range(1, n + 1):
        values: dict[str, Any] = {
            "id": i,
            "sfzh": "" if i % 50 == 0 else "11010519491231002x",
            "xm": f" 王芳{i} ",
            "xb": "女",
            "csrq": "1949年12月31日",
            "jzlb": "低保",
            "yffje": "1,395.5",
            "unmapped": object(),  # a column the mapping does not read never leaves the process
        }
        if i % 70 == 0:
            out.append(SourceRow.bad({"id": i}, {"at": i}, "unreadable line"))
            continue
        before = {**values, "yffje": "1,000"} if i % 3 == 0 else None
        out.append(
            SourceRow(
                values=values,
                key={"id": i},
                position={"log": i * 64, "snap": {"key": [{"t": "plain", "v": i}], "rows": i}},
                op="u" if before else "c",
                source_ts_ms=1_700_000_000_000 + i,
                before=before,
                transaction=Transaction(f"tx{i // 10}", i % 10 + 1),
            )
        )
    return out


def comparable(outcomes: list[Event | Rejected]) -> list[Any]:
    """Outcomes as values, each event decoded without its ``ts_ms`` (the encoding's own clock)."""
    out: list[Any] = []
    for o in outcomes:
        if isinstance(o, Rejected):
            out.append((o.field, o.reason))
            continue
        assert o.value[:5] == b"\x00\x00\x00\x00\x08"
        decoded = fastavro.schemaless_reader(io.BytesIO(o.value[5:]), PARSED, None)
        decoded.pop("ts_ms")
        out.append((o.key, decoded))
    return out


def ready(pool: EncodePool) -> None:
    """Start the pool's workers and wait until each took its spec (bounded: a hang fails)."""
    deadline = time.monotonic() + 120
    while not all(w.ready() for w in pool._workers):
        assert time.monotonic() < deadline, "an encode worker never became ready"
        time.sleep(0.05)


@pytest.fixture
def pool() -> Any:
    pool = EncodePool(SPEC, workers=2, connector="test-pool", min_split=100)
    yield pool
    pool.close()


def test_workers_encode_exactly_what_the_connector_would_in_order(pool: EncodePool) -> None:
    ready(pool)
    batch = rows(1000)
    expected = comparable(SPEC.builder().events(batch))
    reasons = {o[1] for o in expected if isinstance(o[0], str)}
    assert "unreadable line" in reasons and "is required but the source value is null or blank" in reasons
    for _ in range(3):  # the share kept here moves between batches; the outcome never does
        assert comparable(pool.submit(batch).result()) == expected


def test_a_small_batch_is_encoded_here_without_starting_a_worker(pool: EncodePool) -> None:
    batch = rows(99)
    assert comparable(pool.submit(batch).result()) == comparable(SPEC.builder().events(batch))
    assert all(w._proc is None for w in pool._workers)


def test_a_worker_killed_while_encoding_costs_only_parallelism(pool: EncodePool) -> None:
    ready(pool)
    batch = rows(3000)
    lost = metrics.CONNECTOR_ERRORS.labels("test-pool", "encode")
    before = lost._value.get()
    encoding = pool.submit(batch)
    victim = pool._workers[0]._proc
    assert victim is not None
    os.kill(victim.pid, signal.SIGKILL)
    assert comparable(encoding.result()) == comparable(SPEC.builder().events(batch))
    assert lost._value.get() == before + 1
    assert victim.poll() is not None  # reaped, not left a zombie
    assert comparable(pool.submit(batch).result()) == comparable(SPEC.builder().events(batch))


def test_an_abandoned_batch_does_not_answer_for_the_next(pool: EncodePool) -> None:
    ready(pool)
    first, second = rows(500), rows(800)[300:]
    pool.submit(first)  # never taken: the engine dropped it (its commit failed)
    assert comparable(pool.submit(second).result()) == comparable(SPEC.builder().events(second))


@pytest.mark.timeout(120)
def test_the_next_batch_is_sent_before_the_last_is_taken(pool: EncodePool) -> None:
    """Both batches are large enough that neither side's socket buffer holds a part or an
    answer: a worker that read its next batch only once it had sent its answer would block
    on that answer while the pool blocks on sending (the test would hang to its timeout)."""
    ready(pool)
    first, second = rows(20_000), rows(24_000)[4_000:]
    one, two = pool.submit(first), pool.submit(second)
    assert one.shared and two.shared
    assert comparable(one.result()) == comparable(SPEC.builder().events(first))
    assert comparable(two.result()) == comparable(SPEC.builder().events(second))


def test_a_worker_killed_with_two_batches_open_loses_neither(pool: EncodePool) -> None:
    ready(pool)
    first, second = rows(3000), rows(3500)[500:]
    lost = metrics.CONNECTOR_ERRORS.labels("test-pool", "encode")
    before = lost._value.get()
    one, two = pool.submit(first), pool.submit(second)
    victim = pool._workers[1]._proc
    assert victim is not None
    os.kill(victim.pid, signal.SIGKILL)
    assert comparable(one.result()) == comparable(SPEC.builder().events(first))
    assert comparable(two.result()) == comparable(SPEC.builder().events(second))
    assert lost._value.get() == before + 1  # one loss, though it held a part of each


def test_a_third_batch_submitted_drops_the_oldest_not_taken(pool: EncodePool) -> None:
    ready(pool)
    batches = [rows(600), rows(900)[300:], rows(1500)[900:]]
    encodings = [pool.submit(b) for b in batches]  # the first is never taken
    for encoding, batch in zip(encodings[1:], batches[1:], strict=True):
        assert comparable(encoding.result()) == comparable(SPEC.builder().events(batch))
    assert not pool._open


def test_workers_end_with_the_pool() -> None:
    pool = EncodePool(SPEC, workers=1, connector="test-pool", min_split=1)
    pool.submit(rows(5)).result()
    ready(pool)
    proc = pool._workers[0]._proc
    assert proc is not None
    pool.close()
    assert proc.poll() is not None


def test_a_worker_imports_no_settings_registry_database_or_kafka_library() -> None:
    """A worker's memory counts against the connector's: it loads only what encoding needs."""
    heavy = [
        "pydantic",
        "requests",
        "sqlalchemy",
        "psycopg2",
        "psycopg",
        "pymysql",
        "kafka",
        "confluent_kafka",
    ]
    probe = (
        f"import sys, civicbus.connectors.encode_worker; print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
