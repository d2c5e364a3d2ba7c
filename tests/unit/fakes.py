"""Fakes for the connector engine's parts (connectors/parts.py): no broker, no database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from civicbus.connectors.base import Source, SourceRow, SourceSettings, SourceUnavailable
from civicbus.connectors.delivery import DeliveryFailed
from civicbus.connectors.events import Deferred, Event, Rejected


class FakeAck:
    """An acknowledgement the test resolves (or that is resolved at once when ``auto``)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.exception: BaseException | None = None

    @property
    def is_done(self) -> bool:
        return self._done.is_set()

    def failed(self) -> bool:
        return self.is_done and self.exception is not None

    def succeed(self) -> None:
        self._done.set()

    def fail(self, exc: BaseException) -> None:
        self.exception = exc
        self._done.set()

    def get(self, timeout: float | None = None) -> Any:
        if not self._done.wait(timeout):
            raise TimeoutError("not acknowledged")
        if self.exception is not None:
            raise self.exception
        return "metadata"


@dataclass
class Sent:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    ack: FakeAck


class FakeProducer:
    """Records every send. ``auto`` acknowledges at once; ``fail_when(sent)`` fails chosen sends."""

    def __init__(self, auto: bool = True, fail_when: Callable[[Sent], bool] | None = None) -> None:
        self.auto = auto
        self.fail_when = fail_when
        self.sent: list[Sent] = []
        self.closed = False
        self._lock = threading.Lock()
        self.transactions: FakeTransactions | None = None

    def send(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> FakeAck:
        assert self.transactions is None or not self.transactions.committing, "sent while committing"
        ack = FakeAck()
        record = Sent(topic, key, value, list(headers or []), ack)
        with self._lock:
            self.sent.append(record)
        if self.fail_when is not None and self.fail_when(record):
            ack.fail(RuntimeError(f"broker refused a record on {topic}"))
        elif self.auto:
            ack.succeed()
        return ack

    def on(self, topic: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.topic == topic]

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


class FakePositions:
    def __init__(self, start: Any = None, fail_times: int = 0) -> None:
        self.saved: list[Any] = [] if start is None else [start]
        self.fail_times = fail_times

    def load(self, connector: str) -> Any:
        return self.saved[-1] if self.saved else None

    def save(self, connector: str, position: Any) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise DeliveryFailed("position topic refused the write")
        self.saved.append(position)

    def stage(self, connector: str, position: Any) -> FakeAck:
        """Inside a fake transaction: the position counts when it commits."""
        assert self.transactions is not None, "stage() is only used with transactions"
        self.transactions.staged.append(position)
        ack = FakeAck()
        ack.succeed()
        return ack

    transactions: FakeTransactions | None = None


@dataclass
class FakeStatus:
    states: list[str] = field(default_factory=list)
    failures: int = 0
    delivered_rows: int = 0
    dead: int = 0

    def start(self, position: Any) -> None:
        self.states.append("RUNNING")

    def publish(self, state: str | None = None) -> None:
        if state:
            self.states.append(state)

    def tick(self) -> None:
        pass

    def stop(self, timeout_s: float = 5.0) -> None:
        self.states.append("STOPPED")

    def failed(self) -> None:
        self.failures += 1

    def lagging(self, lag_s: float) -> None:
        self.lag_s = lag_s

    lag_s: float = 0.0

    def delivered(self, produced: int, dead: int, position: Any, newest_ts_ms: int | None) -> None:
        self.delivered_rows += produced
        self.dead += dead


class ListSource(Source):
    """Rows 1..n of a list; the position after row i is i. ``outages`` reads raise unavailable."""

    settings_model = SourceSettings

    def __init__(self, settings: Any = None, columns: list[str] | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.bad: dict[int, str] = {}
        self.deleted: set[int] = set()
        self.outages = 0
        self.setup_outages = 0
        self.reads: list[Any] = []
        self.closed = False

    def setup(self) -> None:
        if self.setup_outages:
            self.setup_outages -= 1
            raise SourceUnavailable("database away")

    def read(self, after: Any, limit: int) -> list[SourceRow]:
        self.reads.append(after)
        if self.outages:
            self.outages -= 1
            raise SourceUnavailable("database away")
        start = after or 0
        out = []
        for i in range(start + 1, min(start + limit, len(self.rows)) + 1):
            if i in self.bad:
                out.append(SourceRow.bad({"id": i}, i, self.bad[i]))
            else:
                out.append(SourceRow(values=self.rows[i - 1], key={"id": i}, position=i))
        return out

    def describe(self) -> dict[str, str]:
        return {"database": "list", "table": "rows"}

    def keys(self) -> Iterator[Mapping[str, Any]]:
        return iter([{"id": i} for i in range(1, len(self.rows) + 1) if i not in self.deleted])

    def close(self) -> None:
        self.closed = True


class JsonEvents:
    """Stands in for EventBuilder: the key is the row's id, a row with ``bad`` is rejected."""

    def event(self, row: SourceRow) -> Event:
        if row.error is not None:
            raise Rejected("(source)", row.error)
        if row.values.get("bad"):
            raise Rejected("name", "is required but the source value is null or blank")
        return Event(str(row.key["id"]).encode(), f"{row.op}:{row.values}".encode())

    def submit(self, rows: Sequence[SourceRow]) -> Deferred:
        return Deferred(self.event, rows)

    def deletion(self, row: SourceRow, before: dict[str, Any]) -> Event:
        return Event(str(row.key["id"]).encode(), f"d:{before}".encode())

    def close(self) -> None:
        pass


def run_until(connector: Any, done: Callable[[], bool], timeout_s: float = 60) -> threading.Event:
    """Run ``connector`` in a thread until ``done()`` holds, then stop it and wait for it."""
    stop = threading.Event()
    thread = threading.Thread(target=connector.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not done():
            assert thread.is_alive(), "the connector thread ended before the condition held"
            assert time.monotonic() < deadline, "condition not reached (a hang, not a slow machine)"
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout_s)
    assert not thread.is_alive(), "the connector did not stop"
    return stop


class FakeTransactions:
    """Records what each transaction held; ``fail_commits`` commits fail (the batch is re-read)."""

    def __init__(self, positions: FakePositions, producer: FakeProducer, fail_commits: int = 0) -> None:
        self.positions = positions
        self.producer = producer
        self.fail_commits = fail_commits
        self.staged: list[Any] = []
        self.open = False
        self.committed_records: list[Sent] = []
        self.aborted = 0
        self._start = 0
        positions.transactions = self
        producer.transactions = self

    def begin(self) -> None:
        assert not self.open, "a transaction is already open"
        self.open = True
        self.staged = []
        self._start = len(self.producer.sent)

    def start_commit(self) -> FakeCommit:
        assert self.open
        self.committing = True
        return FakeCommit(self)

    def commit(self) -> None:
        self.start_commit().wait()

    def _finish(self) -> None:
        self.committing = False
        if self.fail_commits:
            self.fail_commits -= 1
            raise DeliveryFailed("the transaction coordinator is away")
        self.open = False
        self.committed_records += self.producer.sent[self._start :]
        self.positions.saved += self.staged[-1:]

    def abort(self) -> None:
        self.open = False
        self.aborted += 1

    committing = False


class FakeCommit:
    def __init__(self, tx: FakeTransactions) -> None:
        self.tx = tx

    def wait(self) -> None:
        self.tx._finish()


class MemoryLog:
    """The registry's record log in a list; a new SchemaStore over it is a restarted registry."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def replay(self) -> list[tuple[bytes | None, bytes | None]]:
        return list(self.records)

    def append(self, key: bytes, value: bytes | None) -> None:
        self.records.append((key, value))

    def close(self) -> None:
        pass

    def compact(self) -> None:
        """What log compaction may leave at worst: the last record per key, tombstones gone."""
        last = {key: i for i, (key, _) in enumerate(self.records)}
        self.records = [r for i, r in enumerate(self.records) if last[r[0]] == i and r[1] is not None]
