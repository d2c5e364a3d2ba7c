"""The connector engine: the poll loop that turns one source's rows into acknowledged events.

Per batch: read rows after the saved position → encode each (bad input becomes a dead letter) →
produce events, tombstones, index records and dead letters → make them count together with the
position after the batch's last row. Two ways, chosen by ``parts.transactions``:

- **exactly-once** (transactions handed in): the batch's records and its position are sent in
  one Kafka transaction and committed before the next batch is read. A ``read_committed``
  consumer sees each row once whatever crashes; an aborted or uncommitted batch is read again.
- **at-least-once** (no transactions): the next batch is read while the broker acknowledges the
  last (at most two in flight), and a position is saved once its batch and every batch before
  it are acknowledged. A crash re-sends at most the batches that were in flight.

A source that is away (SourceUnavailable) or a broker that does not acknowledge (DeliveryFailed)
is waited out with the one backoff (logged, counted in ``civicbus_connector_errors_total``); the
loop ends only when ``stop`` is set, after finishing the batch in hand. The engine is handed all
its parts (parts.py) and imports no database, file or Kafka library.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import structlog

from civicbus.core.backoff import Backoff, Stopped
from civicbus.ops import metrics

from .backlog import Backlog
from .base import Position, SourceRow, SourceUnavailable
from .delivery import Ack, Commit, DeliveryFailed, Transactions
from .events import Encoding, Event, Rejected
from .inflight import Batch, InFlight
from .parts import Parts
from .progress import Progress
from .reconcile import source_key

log = structlog.get_logger(__name__)
MAX_BATCHES_IN_FLIGHT = 2


@dataclass(frozen=True)
class Pace:
    """How the engine paces itself: the connector file's batch, poll and rate settings."""

    batch_size: int = 500
    poll_interval_s: float = 0.5
    max_rows_per_s: float | None = None
    tombstones: bool = False
    max_backoff_s: float = 10.0
    health_interval_s: float = 15.0
    stop_timeout_s: float = 5.0
    """How long stopping may wait for the broker to take what is in flight."""
    """How often the source is asked for its backlog (a counting query on SQL sources)."""


@dataclass(frozen=True)
class Sent:
    """What one produced batch carries, counted once the broker acknowledged it."""

    produced: int
    dead: int
    size: int
    newest_ts_ms: int | None


class Connector:
    """One connector's engine; :meth:`run` blocks until ``stop`` is set."""

    def __init__(self, name: str, topic: str, parts: Parts, pace: Pace) -> None:
        self.name = name
        self.topic = topic
        self.parts = parts
        self.pace = pace
        self._log = log.bind(connector=name)
        self._backoff = Backoff(pace.max_backoff_s)
        self._backlog = Backlog()
        self._progress = Progress(name)
        self._health_at: float | None = None
        self._unplaced_logged: int | None = None

    # --- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Set the source up, then poll until ``stop``; the saved position trails delivery."""
        p = self.parts
        try:
            if not self._setup_source(stop):
                return
            saved = p.positions.load(self.name)
            p.status.start(saved)
            self._log.info("connector.started", topic=self.topic, position=saved)
            metrics.CONNECTOR_UP.labels(self.name).set(1)
            if p.transactions is not None:
                self._transactional_loop(stop, saved, p.transactions)
            else:
                self._loop(stop, saved)
        except Stopped as exc:  # stopped while waiting for the broker to come back
            self._log.info("connector.stopped", during=str(exc))
        finally:
            metrics.CONNECTOR_UP.labels(self.name).set(0)
            p.source.close()

    def _setup_source(self, stop: threading.Event) -> bool:
        while not stop.is_set():
            try:
                self.parts.source.setup()
                self._backoff.reset()
                return True
            except SourceUnavailable as exc:
                metrics.CONNECTOR_ERRORS.labels(self.name, "source").inc()
                self._log.warning("source.unavailable", error=str(exc), retry_in_s=self._backoff.wait(stop))
        self._log.info("connector.stopped", during_setup="source")
        return False

    def _read(self, after: Position | None, stop: threading.Event) -> list[SourceRow] | None:
        """The next batch after ``after``; None when the source was away (after a backoff)."""
        self.parts.status.tick()
        try:
            rows = self.parts.source.read(after, self.pace.batch_size)
        except SourceUnavailable as exc:
            self._retry("source", "source.read_failed", str(exc), stop)
            return None
        metrics.CONNECTOR_ROWS_READ.labels(self.name).inc(len(rows))
        self._progress.update(self.parts.source.progress())
        return rows

    def _loop(self, stop: threading.Event, saved: Position | None) -> None:
        p = self.parts
        inflight: InFlight[Sent] = InFlight()
        read_at = saved  # after the last row produced; ``saved`` trails it until acknowledged
        try:
            while not stop.is_set():
                started = time.monotonic()
                rows = self._read(read_at, stop)
                if rows is None:
                    continue
                if rows:
                    try:
                        acks, sent = self._send(rows, p.events.submit(rows).result())
                    except DeliveryFailed as exc:
                        inflight.clear()
                        read_at = saved
                        self._retry("produce", "batch.delivery_failed", str(exc), stop)
                        continue
                    inflight.add(acks, rows[-1].position, sent)
                    read_at = rows[-1].position
                idle = len(rows) < self.pace.batch_size
                # keep one batch in flight while the next is read; wait when idle or two are out
                if idle or len(inflight) >= MAX_BATCHES_IN_FLIGHT:
                    inflight.wait_oldest(all_of_them=idle)
                try:
                    saved = self._settle(inflight, saved)
                except DeliveryFailed as exc:
                    read_at = saved
                    self._retry("produce", "batch.delivery_failed", str(exc), stop)
                    continue
                if p.reconciler is not None and not len(inflight) and p.reconciler.due():
                    self._reconcile(stop)
                self._polled(rows, started, stop, saved)
        finally:
            self._wind_down(inflight, saved)

    def _transactional_loop(self, stop: threading.Event, saved: Position | None, tx: Transactions) -> None:
        """One transaction per batch. After a full batch the next one is read from the source
        while encode workers encode this one (its encoding is shared), and handed to them at
        once so they start on it while this one is produced and committed; without workers it
        is read while the broker commits. A batch is produced only once the commit of the one
        before it succeeded."""
        p = self.parts
        ahead: list[SourceRow] | None = None
        encoding: Encoding | None = None  # of ``ahead``, submitted as soon as it was read
        try:
            while not stop.is_set():
                started = time.monotonic()
                rows = ahead if ahead is not None else self._read(saved, stop)
                pending, ahead, encoding = encoding, None, None
                if rows is None:
                    continue
                if rows:
                    position = rows[-1].position
                    if pending is None:
                        pending = p.events.submit(rows)
                    full = len(rows) == self.pace.batch_size
                    if full and pending.shared:  # read while workers encode, then queue it for them
                        ahead = self._read(position, stop)
                        encoding = p.events.submit(ahead) if ahead else None
                    try:
                        commit, acks, sent = self._start_batch(tx, rows, pending.result())
                        if full and not pending.shared:  # read while the broker commits
                            ahead = self._read(position, stop)
                            encoding = p.events.submit(ahead) if ahead else None
                        commit.wait()
                    except DeliveryFailed as exc:
                        ahead = encoding = None  # read after an uncommitted position: read it again
                        tx.abort()
                        self._retry("produce", "batch.delivery_failed", str(exc), stop)
                        continue
                    saved = position
                    self._count([Batch(acks, position, sent)])
                    p.source.confirm(position)
                if p.reconciler is not None and p.reconciler.due():
                    self._reconcile(stop)
                self._polled(rows, started, stop, saved)
        finally:
            self._wind_down(InFlight(), saved)

    def _start_batch(
        self, tx: Transactions, rows: list[SourceRow], events: list[Event | Rejected]
    ) -> tuple[Commit, list[Ack], Sent]:
        """Send ``rows`` and the position after them in one transaction and start its commit."""
        tx.begin()
        acks, sent = self._send(rows, events)
        self.parts.positions.stage(self.name, rows[-1].position)
        return tx.start_commit(), acks, sent

    def _polled(
        self, rows: list[SourceRow], started: float, stop: threading.Event, saved: Position | None
    ) -> None:
        """After a good poll: reset the backoff, record it and the backlog, pace the next one."""
        self._backoff.reset()
        self._take_signals()
        newest = max((r.source_ts_ms for r in rows if r.source_ts_ms is not None), default=None)
        self._backlog.polled(caught_up=len(rows) < self.pace.batch_size, delivered_ts_ms=newest)
        self._check_health(saved)
        metrics.CONNECTOR_LAST_POLL.labels(self.name).set(time.time())
        metrics.CONNECTOR_POLL_SECONDS.labels(self.name).observe(time.monotonic() - started)
        cap = self.pace.max_rows_per_s
        if cap and rows:  # protect the legacy database: never read faster than the cap
            stop.wait(max(len(rows) / cap - (time.monotonic() - started), 0))
        if len(rows) < self.pace.batch_size and not self.parts.source.follows_log:
            stop.wait(self.pace.poll_interval_s)

    def _take_signals(self) -> None:
        """Hand every signal that came for this connector to its source, saying what became of it."""
        signals = self.parts.signals
        if signals is None:
            return
        for signal in signals.take():
            action = signal.get("action")
            accepted = False
            if action == "snapshot":
                try:
                    accepted = self.parts.source.resnapshot()
                except SourceUnavailable as exc:
                    self._log.warning("signal.failed", action=action, id=signal.get("id"), error=str(exc))
                    continue
            event = "signal.accepted" if accepted else "signal.refused"
            self._log.info(event, action=action, id=signal.get("id"), source=type(self.parts.source).__name__)

    def _check_health(self, saved: Position | None) -> None:
        """Ask the source for its backlog every health interval; publish lag, pending, unplaced."""
        now = time.monotonic()
        if self._health_at is None or now - self._health_at >= self.pace.health_interval_s:
            self._health_at = now
            try:
                health = self.parts.source.health(saved)
            except SourceUnavailable as exc:
                self._log.warning("source.health_failed", error=str(exc))
                health = None
            if health is not None:
                self._backlog.observed(health)
                if health.unplaced and health.unplaced != self._unplaced_logged:
                    self._log.warning("source.rows_without_order", rows=health.unplaced)
                self._unplaced_logged = health.unplaced
        b = self._backlog
        metrics.CONNECTOR_SOURCE_LAG.labels(self.name).set(b.lag_s)
        if b.pending is not None:
            metrics.CONNECTOR_ROWS_PENDING.labels(self.name).set(b.pending)
        if b.unplaced is not None:
            metrics.CONNECTOR_UNPLACED_ROWS.labels(self.name).set(b.unplaced)
        if b.log_lag_bytes is not None:
            metrics.CONNECTOR_LOG_LAG_BYTES.labels(self.name).set(b.log_lag_bytes)
        self.parts.status.lagging(b.lag_s)

    def _wind_down(self, inflight: InFlight[Sent], saved: Position | None) -> None:
        """Deliver what is in flight, save its position, say STOPPED; never raises.

        Takes at most about ``Pace.stop_timeout_s``: with the broker away nothing more can be
        delivered, and nothing is lost by giving up (what was not acknowledged, or not committed,
        is read again from the saved position on the next start)."""
        p = self.parts
        deadline = time.monotonic() + self.pace.stop_timeout_s

        def left() -> float:
            return max(deadline - time.monotonic(), 0.1)

        try:
            p.producer.flush(timeout=left())
            inflight.wait_oldest(all_of_them=True, timeout_s=left())
            saved = self._settle(inflight, saved)
        except Exception as exc:
            self._log.warning("batch.delivery_failed", error=str(exc), during="stop")
        try:
            p.status.stop(timeout_s=left())
        except Exception as exc:
            self._log.warning("connector.status_failed", error=str(exc), during="stop")
        try:
            p.events.close()
        except Exception as exc:
            self._log.warning("encode.close_failed", error=str(exc))
        if p.signals is not None:
            try:
                p.signals.close()
            except Exception as exc:
                self._log.warning("signal.close_failed", error=str(exc))
        try:
            p.producer.close(timeout=left())
        except Exception as exc:
            self._log.warning("connector.close_failed", error=str(exc))
        self._log.info("connector.stopped", position=saved)

    def _settle(self, inflight: InFlight[Sent], saved: Position | None) -> Position | None:
        """Save the position of every leading acknowledged batch; returns the saved position.

        Raises DeliveryFailed when a batch failed or its position could not be saved: the caller
        re-reads from the position saved before."""
        done = inflight.acknowledged()
        if not done:
            return saved
        last = done[-1]
        try:
            self.parts.positions.save(self.name, last.position)
        except DeliveryFailed:
            inflight.clear()
            raise
        self._count(done)
        self.parts.source.confirm(last.position)
        return last.position

    def _count(self, done: list[Batch[Sent]]) -> None:
        """Metrics and status for batches whose delivery now counts."""
        for batch in done:
            sent = batch.info
            metrics.CONNECTOR_ROWS_PRODUCED.labels(self.name).inc(sent.produced)
            metrics.CONNECTOR_BYTES.labels(self.name).inc(sent.size)
            self.parts.status.delivered(sent.produced, sent.dead, batch.position, sent.newest_ts_ms)

    def _send(self, rows: list[SourceRow], events: list[Event | Rejected]) -> tuple[list[Ack], Sent]:
        """Produce one batch (events, tombstones, index records, dead letters) without waiting."""
        p = self.parts
        acks: list[Ack] = []
        produced = size = dead = 0
        newest_ts: int | None = None
        for row, event in zip(rows, events, strict=True):
            if isinstance(event, Rejected):
                acks.append(p.dead_letters.send(row.values, row.key, row.position, event.field, event.reason))
                dead += 1
                continue
            acks.append(p.producer.send(self.topic, key=event.key, value=event.value))
            if p.reconciler is not None:
                index = p.reconciler
                acks.append(
                    index.forget(source_key(row.key))
                    if row.op == "d"
                    else index.remember(row.key, event.value)
                )
            if row.op == "d" and self.pace.tombstones:
                acks.append(p.producer.send(self.topic, key=event.key, value=None))
            produced += 1
            size += len(event.key) + len(event.value)
            if row.source_ts_ms is not None:
                newest_ts = max(newest_ts or 0, row.source_ts_ms)
        return acks, Sent(produced, dead, size, newest_ts)

    def _reconcile(self, stop: threading.Event) -> None:
        """Produce a delete event (and tombstone) for every delivered row gone from the source.

        A row leaves the index only once its delete event is delivered: in one transaction with
        it (exactly-once), or after it was acknowledged (at-least-once), so a delete that fails
        is found again by the next reconciliation instead of being forgotten."""
        p = self.parts
        assert p.reconciler is not None and p.decode is not None
        try:
            gone = p.reconciler.deleted(p.source.keys())
        except SourceUnavailable as exc:
            self._retry("reconcile", "reconcile.failed", str(exc), stop)
            return
        if not gone:
            return
        tx = p.transactions
        try:
            if tx is not None:
                tx.begin()
            acks = self._send_deletes(gone)
            if tx is None:
                self._acknowledged(acks)
            acks = [p.reconciler.forget(index_key) for index_key, _ in gone]
            if tx is not None:
                tx.commit()
            else:
                self._acknowledged(acks)
        except DeliveryFailed as exc:
            if tx is not None:
                tx.abort()
            self._retry("reconcile", "reconcile.failed", str(exc), stop)
            return
        metrics.CONNECTOR_HARD_DELETES.labels(self.name).inc(len(gone))
        self._log.info("reconcile.deleted", rows=len(gone))

    def _send_deletes(self, gone: list[tuple[bytes, bytes]]) -> list[Ack]:
        p = self.parts
        assert p.decode is not None
        acks: list[Ack] = []
        for index_key, last_event in gone:
            before = p.decode(last_event)["after"]
            row = SourceRow(values={}, key=json.loads(index_key), position="reconcile", op="d")
            event = p.events.deletion(row, before)
            acks.append(p.producer.send(self.topic, key=event.key, value=event.value))
            if self.pace.tombstones:
                acks.append(p.producer.send(self.topic, key=event.key, value=None))
        return acks

    def _acknowledged(self, acks: list[Ack]) -> None:
        """Flush and wait; DeliveryFailed unless every record was acknowledged."""
        self.parts.producer.flush()
        failed = next((a for a in acks if not a.is_done or a.failed()), None)
        if failed is not None:
            raise DeliveryFailed(str(failed.exception or "not acknowledged"))

    def _retry(self, stage: str, event: str, error: str, stop: threading.Event) -> None:
        """Count and log a failure of ``stage``, then back off before the same work is retried."""
        metrics.CONNECTOR_ERRORS.labels(self.name, stage).inc()
        self.parts.status.failed()
        self._log.warning(event, error=error, retry_in_s=self._backoff.wait(stop))
