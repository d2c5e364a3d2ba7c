"""confluent-kafka (librdkafka) behind the engine's delivery contracts (delivery.py).

The connector's producer by default: as the connector's producer it delivers several times the
rows per second kafka-python does on the same batches (bench/connector.py, README), and its
network thread waits out a broker that is away without spinning. kafka_delivery.py keeps the
kafka-python producer (``CIVICBUS_CONNECTOR_PRODUCER=kafka-python``).

- Records are keyed with Kafka's murmur2 partitioner, as kafka-python and Java clients do, so a
  key lands in the same partition whichever producer wrote it.
- Exactly-once: :meth:`start_commit` hands ``commit_transaction`` to a thread of its own (it
  releases the GIL while it waits for the broker), so the engine reads the next batch meanwhile;
  :meth:`Completion.wait` waits in slices that watch the stop event. A fatal error (fenced) is
  Fenced; an abortable one aborts; anything else discards the producer, whose successor's
  ``init_transactions`` settles what was left open.
- At-least-once: each record's delivery report completes its :class:`RdAck`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException, Producer

from civicbus.core import identity
from civicbus.core.rdkafka import LIBRDKAFKA_LOG, ErrorLog

from .delivery import DeliveryFailed, Fenced, LazyProducer

log = structlog.get_logger(__name__)
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
_POLL_EVERY = 1000
"""Sends between two polls of delivery reports and errors."""


def config(bootstrap: str, transactional_id: str | None) -> dict[str, Any]:
    """The producer's settings: idempotent, acks from every in-sync replica, batches as large as
    kafka-python's were (256 KiB, 5 ms linger), the broker's partitioner."""
    settings: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.size": 256 * 1024,
        "partitioner": "murmur2_random",
        "error_cb": ErrorLog(),
        "logger": LIBRDKAFKA_LOG,
        "log.connection.close": False,
        "reconnect.backoff.ms": 500,
        "reconnect.backoff.max.ms": 10_000,
        **identity.current().librdkafka(),
    }
    if transactional_id:
        settings["transactional.id"] = transactional_id
    return settings


def _fenced(exc: BaseException) -> bool:
    error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    return error is not None and (error.code() in _FENCED or error.fatal())


class RdAck:
    """One record's delivery, completed by its delivery report (served by the producer's poll)."""

    __slots__ = ("_owner", "exception", "is_done")

    def __init__(self, owner: RdKafkaDelivery) -> None:
        self._owner = owner
        self.is_done = False
        self.exception: BaseException | None = None

    def __call__(self, err: KafkaError | None, _msg: Any) -> None:
        self.is_done = True
        if err is not None:
            self.exception = KafkaException(err)

    def failed(self) -> bool:
        return self.exception is not None

    def get(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else 300)
        while not self.is_done and time.monotonic() < deadline:
            self._owner.poll(0.05)
        if self.exception is not None:
            raise self.exception
        if not self.is_done:
            raise DeliveryFailed("not acknowledged in time")


class _Settled:
    """What a send returns inside a transaction: the commit, not each record, says it arrived."""

    is_done = True
    exception = None

    def failed(self) -> bool:
        return False

    def get(self, timeout: float | None = None) -> None:
        return None


SETTLED = _Settled()


class RdKafkaDelivery(LazyProducer[Producer]):
    def __init__(
        self,
        make: Callable[[], Producer],
        stop: threading.Event,
        transactional: bool,
        complete_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(make, stop, transactional, complete_timeout_s)
        self._sent = 0
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tx-commit")

    # --- Producer ----------------------------------------------------------------------------
    def producer(self) -> Producer:
        """The live producer, made (and its transactions initialised) when there is none."""
        if self._producer is None:
            made = self._make()
            if self.transactional:
                try:
                    made.init_transactions(self._timeout)
                except KafkaException as exc:
                    made.purge()
                    if _fenced(exc):
                        raise Fenced(str(exc)) from exc
                    raise DeliveryFailed(f"transactions not initialised: {exc}") from exc
            self._producer = made
        return self._producer

    def poll(self, timeout: float = 0) -> None:
        """Serve delivery reports and errors; a fatal error (fenced) surfaces here too."""
        if self._producer is not None:
            try:
                self._producer.poll(timeout)
            except KafkaException as exc:
                if _fenced(exc):
                    raise Fenced(str(exc)) from exc
                raise DeliveryFailed(str(exc)) from exc

    def send(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> RdAck | _Settled:
        producer = self.producer()
        ack: RdAck | _Settled
        report: RdAck | None
        if self.transactional:
            ack, report = SETTLED, None
        else:
            ack = report = RdAck(self)
        while True:
            try:
                if headers:
                    producer.produce(topic, value, key, headers=list(headers), on_delivery=report)
                else:
                    producer.produce(topic, value, key, on_delivery=report)
                break
            except BufferError:  # its queue is full: let deliveries drain it
                self.poll(0.05)
                if self._stop.is_set():
                    raise DeliveryFailed(f"stopped while {topic}'s queue was full") from None
            except KafkaException as exc:
                if _fenced(exc):
                    raise Fenced(str(exc)) from exc
                raise DeliveryFailed(f"could not send to {topic}: {exc}") from exc
        self._sent += 1
        if self._sent % _POLL_EVERY == 0:
            self.poll(0)
        return ack

    def flush(self, timeout: float | None = None) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(timeout if timeout is not None else 30)
            except KafkaException as exc:
                log.warning("producer.flush_failed", error=str(exc))

    def close(self, timeout: float | None = None) -> None:
        if self._producer is not None:
            self.flush(timeout if timeout is not None else 5)
            self._producer = None
        self._committer.shutdown(wait=False)

    # --- Transactions --------------------------------------------------------------------------
    def begin(self) -> None:
        try:
            self.producer().begin_transaction()
        except KafkaException as exc:
            if _fenced(exc):
                raise Fenced(str(exc)) from exc
            self._discard()
            raise DeliveryFailed(f"transaction not begun: {exc}") from exc

    def start_commit(self) -> Completion:
        producer = self._producer
        if producer is None:
            raise DeliveryFailed("no producer: the transaction was lost")
        return Completion(
            self, self._committer.submit(producer.commit_transaction, self._timeout), "committed"
        )

    def commit(self) -> None:
        self.start_commit().wait()

    def abort(self) -> None:
        producer = self._producer
        if producer is None:
            return
        try:
            producer.abort_transaction(self._timeout)
        except KafkaException as exc:
            if _fenced(exc):
                raise Fenced(str(exc)) from exc
            log.warning("transaction.abort_failed", error=str(exc))
            self._discard()

    def _discard(self) -> None:
        """Drop a producer whose transaction state is unknown; the next one settles it."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge()


class Completion:
    """A commit under way on the committer thread; :meth:`wait` watches the stop event."""

    def __init__(self, owner: RdKafkaDelivery, future: Future[None], what: str) -> None:
        self._owner = owner
        self._future = future
        self._what = what

    def wait(self) -> None:
        owner = self._owner
        deadline = time.monotonic() + owner._timeout + 1
        while not self._future.done():
            if owner._stop.is_set() or time.monotonic() > deadline:
                owner._discard()
                raise DeliveryFailed(f"transaction not {self._what} in time")
            owner.poll(0.01)
        exc = self._future.exception()
        if exc is None:
            return
        if isinstance(exc, KafkaException):
            if _fenced(exc):
                raise Fenced(str(exc)) from exc
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is not None and error.txn_requires_abort():
                owner.abort()
                raise DeliveryFailed(f"transaction aborted: {exc}") from exc
        owner._discard()
        raise DeliveryFailed(f"transaction not {self._what}: {exc}") from exc
