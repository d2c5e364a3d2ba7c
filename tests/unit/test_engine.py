"""The connector engine's guarantees, with fake parts: no broker, no database, no process."""

from __future__ import annotations

from typing import Any

import pytest

from civicbus.connectors.deadletter import DeadLetters
from civicbus.connectors.delivery import DeliveryFailed
from civicbus.connectors.inflight import InFlight
from civicbus.connectors.parts import Parts
from civicbus.connectors.reconcile import Reconciler, source_key
from civicbus.connectors.runner import Connector, Pace
from civicbus.core.deadletter import DeadLetter

from .fakes import (
    FakeAck,
    FakePositions,
    FakeProducer,
    FakeStatus,
    FakeTransactions,
    JsonEvents,
    ListSource,
    run_until,
)

TOPIC, DLQ = "events", "dlq"


def engine(
    source: ListSource,
    producer: FakeProducer | None = None,
    positions: FakePositions | None = None,
    reconciler: Reconciler | None = None,
    batch_size: int = 5,
) -> tuple[Connector, FakeProducer, FakePositions, FakeStatus]:
    producer = producer or FakeProducer()
    positions = positions or FakePositions()
    status = FakeStatus()
    parts = Parts(
        source=source,
        producer=producer,
        events=JsonEvents(),  # type: ignore[arg-type]
        positions=positions,
        status=status,
        dead_letters=DeadLetters(producer, DLQ, "test", {"database": "list"}),
        reconciler=reconciler,
        decode=lambda b: {"after": b.decode()},
    )
    pace = Pace(batch_size=batch_size, poll_interval_s=0.01, max_backoff_s=0.05)
    return Connector("test", TOPIC, parts, pace), producer, positions, status


def with_rows(n: int) -> ListSource:
    source = ListSource()
    source.rows = [{"name": f"row{i}"} for i in range(1, n + 1)]
    return source


def keys(producer: FakeProducer) -> list[int]:
    return [int(s.key or b"0") for s in producer.on(TOPIC) if s.value is not None]


# --- the in-flight window ---------------------------------------------------------------------
def test_a_batch_acknowledged_before_an_earlier_one_waits_for_it() -> None:
    window: InFlight[str] = InFlight()
    first, second = [FakeAck(), FakeAck()], [FakeAck()]
    window.add(first, 5, "first")
    window.add(second, 10, "second")
    second[0].succeed()
    assert window.acknowledged() == []
    first[0].succeed()
    assert window.acknowledged() == []  # first[1] still out
    first[1].succeed()
    assert [b.position for b in window.acknowledged()] == [5, 10]
    assert len(window) == 0


def test_a_failed_record_fails_every_batch_in_flight() -> None:
    window: InFlight[str] = InFlight()
    a, b = FakeAck(), FakeAck()
    window.add([a], 5, "first")
    window.add([b], 10, "second")
    b.succeed()
    a.fail(RuntimeError("NotEnoughReplicas"))
    with pytest.raises(DeliveryFailed, match="NotEnoughReplicas"):
        window.acknowledged()
    assert len(window) == 0


# --- the position is never ahead of delivery --------------------------------------------------
def test_the_position_saved_is_that_of_the_last_batch_whose_predecessors_are_all_acknowledged() -> None:
    connector, producer, positions, _ = engine(with_rows(0), FakeProducer(auto=False))
    window: InFlight[Any] = InFlight()
    info = connector._send  # the real send path fills the window
    for first in (1, 6):
        source_rows = [r for r in with_rows(10).read(first - 1, 5)]
        acks, sent = info(source_rows, connector.parts.events.submit(source_rows).result())
        window.add(acks, source_rows[-1].position, sent)
    later = [s.ack for s in producer.sent[5:]]
    for ack in later:
        ack.succeed()
    assert connector._settle(window, None) is None and positions.saved == []
    for s in producer.sent[:5]:
        s.ack.succeed()
    assert connector._settle(window, None) == 10 and positions.saved == [10]


def test_a_failed_send_rereads_from_the_saved_position_and_loses_nothing() -> None:
    refused = {"row": 7, "times": 1}

    def fail(sent: Any) -> bool:
        if sent.topic == TOPIC and sent.key == b"7" and refused["times"]:
            refused["times"] -= 1
            return True
        return False

    source = with_rows(12)
    connector, producer, positions, status = engine(source, FakeProducer(fail_when=fail))
    run_until(connector, lambda: positions.saved[-1:] == [12])
    delivered = keys(producer)
    assert set(delivered) == set(range(1, 13))
    assert delivered.count(7) == 2 and status.failures == 1
    assert 5 in source.reads  # re-read from the position saved before the failed batch
    assert all(a <= b for a, b in zip(positions.saved, positions.saved[1:], strict=False))


def test_a_failed_position_write_is_retried_without_skipping_rows() -> None:
    source = with_rows(10)
    connector, producer, positions, status = engine(source, positions=FakePositions(fail_times=1))
    run_until(connector, lambda: positions.saved[-1:] == [10])
    assert set(keys(producer)) == set(range(1, 11))
    assert status.failures == 1


def test_a_source_outage_is_waited_out_at_setup_and_mid_stream() -> None:
    source = with_rows(10)
    source.setup_outages = 2
    source.outages = 2
    connector, producer, positions, status = engine(source)
    run_until(connector, lambda: positions.saved[-1:] == [10])
    assert keys(producer) == list(range(1, 11))
    assert status.failures == 2  # read failures; set-up waits are counted in metrics
    assert source.closed and producer.closed and status.states == ["RUNNING", "STOPPED"]


def test_a_restart_resumes_after_the_saved_position_without_repeating() -> None:
    source = with_rows(10)
    connector, producer, positions, _ = engine(source, positions=FakePositions(start=6))
    run_until(connector, lambda: positions.saved[-1:] == [10])
    assert keys(producer) == [7, 8, 9, 10]


# --- bad input is data -------------------------------------------------------------------------
def test_rows_that_cannot_map_and_bad_input_become_dead_letters_and_the_rest_go_on() -> None:
    source = with_rows(8)
    source.rows[2] = {"bad": True}
    source.bad[5] = "x.xlsx: not a readable workbook"
    connector, producer, positions, status = engine(source)
    run_until(connector, lambda: positions.saved[-1:] == [8])
    assert keys(producer) == [1, 2, 4, 6, 7, 8]
    letters = [DeadLetter.decode(s.value or b"") for s in producer.on(DLQ)]
    assert [(d.key, d.field) for d in letters] == [({"id": "3"}, "name"), ({"id": "5"}, "(source)")]
    assert letters[1].reason == "x.xlsx: not a readable workbook" and letters[1].origin == "test"
    assert dict(producer.on(DLQ)[0].headers)["civicbus.error.field"] == b"name"
    assert status.dead == 2 and status.delivered_rows == 6


def test_a_dead_letter_that_is_not_acknowledged_holds_the_position_back() -> None:
    source = with_rows(4)
    source.rows[1] = {"bad": True}
    once = {"left": 1}

    def fail(sent: Any) -> bool:
        if sent.topic == DLQ and once["left"]:
            once["left"] -= 1
            return True
        return False

    producer = FakeProducer(fail_when=fail)
    letters_when_saved: list[int] = []

    class Watching(FakePositions):
        def save(self, connector: str, position: Any) -> None:
            letters_when_saved.append(len(producer.on(DLQ)))
            super().save(connector, position)

    connector, _, positions, _ = engine(source, producer, Watching(), batch_size=2)
    run_until(connector, lambda: positions.saved[-1:] == [4])
    assert len(producer.on(DLQ)) == 2  # sent again after the failure, never skipped
    assert letters_when_saved[0] == 2  # no position was saved while the first one had failed


# --- reconciliation ------------------------------------------------------------------------------
def test_rows_gone_from_the_source_become_delete_events_and_leave_the_index() -> None:
    source = with_rows(5)
    producer = FakeProducer()
    index: dict[bytes, bytes | None] = {}

    def read(topic: str) -> list[tuple[bytes | None, bytes | None]]:
        for s in producer.on(topic):
            index[s.key or b""] = s.value
        return list(index.items())

    clock = {"t": 0.0}
    reconciler = Reconciler(producer, "index", read, interval_s=1.0, clock=lambda: clock["t"])
    connector, _, positions, _ = engine(source, producer, reconciler=reconciler)
    deletes: list[Any] = []

    def deleted_and_reconciled() -> bool:
        if positions.saved[-1:] == [5] and not source.deleted:
            source.deleted = {2, 4}
            clock["t"] = 10.0
        deletes[:] = [s for s in producer.on(TOPIC) if (s.value or b"").startswith(b"d:")]
        return len(deletes) == 2

    run_until(connector, deleted_and_reconciled)
    assert sorted(int(s.key or b"0") for s in deletes) == [2, 4]
    forgotten = [s.key for s in producer.on("index") if s.value is None]
    assert sorted(forgotten) == sorted([source_key({"id": "2"}), source_key({"id": "4"})])


# --- exactly-once: each batch and its position in one transaction -----------------------------
def transactional(
    source: ListSource, fail_commits: int = 0
) -> tuple[Connector, FakeProducer, FakePositions, FakeTransactions]:
    producer = FakeProducer()
    positions = FakePositions()
    tx = FakeTransactions(positions, producer, fail_commits)
    connector, _, _, _ = engine(source, producer, positions)
    connector.parts.transactions = tx
    return connector, producer, positions, tx


def committed_keys(tx: FakeTransactions) -> list[int]:
    return [int(s.key or b"0") for s in tx.committed_records if s.topic == TOPIC]


def test_each_batch_commits_with_its_position_and_nothing_repeats() -> None:
    source = with_rows(12)
    source.rows[3] = {"bad": True}
    connector, _, positions, tx = transactional(source)
    run_until(connector, lambda: positions.saved[-1:] == [12])
    assert committed_keys(tx) == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]
    assert [s.key for s in tx.committed_records if s.topic == DLQ] == [b'{"id": "4"}']
    assert positions.saved == [5, 10, 12] and tx.aborted == 0


def test_a_failed_commit_is_aborted_and_its_batch_read_again_from_the_committed_position() -> None:
    source = with_rows(12)
    connector, producer, positions, tx = transactional(source, fail_commits=2)
    run_until(connector, lambda: positions.saved[-1:] == [12])
    assert committed_keys(tx) == list(range(1, 13))  # what read_committed consumers see: once each
    assert keys(producer).count(1) == 3  # sent three times, committed once
    assert tx.aborted == 2 and source.reads.count(None) == 3  # re-read from the committed start


def test_a_delete_event_that_fails_is_found_again_not_forgotten() -> None:
    source = with_rows(5)
    refused = {"left": 1}

    def fail(sent: Any) -> bool:
        if sent.topic == TOPIC and (sent.value or b"").startswith(b"d:") and refused["left"]:
            refused["left"] -= 1
            return True
        return False

    producer = FakeProducer(fail_when=fail)
    index: dict[bytes, bytes | None] = {}

    def read(topic: str) -> list[tuple[bytes | None, bytes | None]]:
        index.clear()
        for s in producer.on(topic):
            if s.ack.failed():
                continue
            index[s.key or b""] = s.value
        return [(k, v) for k, v in index.items()]

    clock = {"t": 0.0}
    reconciler = Reconciler(producer, "index", read, interval_s=1.0, clock=lambda: clock["t"])
    connector, _, positions, _ = engine(source, producer, reconciler=reconciler)

    def delivered_deletes() -> list[int]:
        if positions.saved[-1:] == [5] and not source.deleted:
            source.deleted = {2}
        clock["t"] += 0.5
        return [
            int(s.key or b"0")
            for s in producer.on(TOPIC)
            if (s.value or b"").startswith(b"d:") and s.ack.is_done and not s.ack.failed()
        ]

    run_until(connector, lambda: delivered_deletes() == [2])
    assert refused["left"] == 0  # the first delete event was refused, and sent again


def test_the_next_batch_is_read_while_a_full_one_commits_and_dropped_if_the_commit_fails() -> None:
    source = with_rows(12)
    connector, _, positions, tx = transactional(source, fail_commits=1)
    run_until(connector, lambda: positions.saved[-1:] == [12])
    # read ahead after 5 while the first commit ran; it failed, so the batch after 5 was read again
    assert source.reads[:3] == [None, 5, None]
    assert committed_keys(tx) == list(range(1, 13))
