"""kafka-python behind the engine's delivery contracts (delivery.py), transactional or not.

:class:`KafkaDelivery` is the connector's one producer for events, dead letters, index records
and positions. Every send error becomes DeliveryFailed, so the engine re-reads the batch instead
of crashing. With a transactional id it is also the engine's :class:`Transactions`:

- the producer is made lazily, and ``init_transactions`` on the connector's transactional id
  fences any earlier instance and completes or aborts what that instance left open;
- a commit or abort that has not finished within ``complete_timeout_s`` (the broker away), or
  that failed, discards the producer; the next :meth:`begin` makes a new one, whose
  ``init_transactions`` settles the old transaction, so nothing is half-visible;
- ``ProducerFencedError`` (a newer instance of the same connector runs) becomes Fenced.

kafka-python's ``commit_transaction`` waits without a time limit, so commit and abort use its
transaction manager's ``begin_commit``/``begin_abort`` results and wait in slices that also watch
the stop event: SIGTERM is never stuck behind a broker that went away.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import structlog
from kafka import KafkaProducer
from kafka.errors import InvalidProducerEpochError, KafkaError, ProducerFencedError

from .delivery import Ack, DeliveryFailed, Fenced, LazyProducer

log = structlog.get_logger(__name__)
FENCED = (ProducerFencedError, InvalidProducerEpochError)
"""A newer instance of this connector holds its transactional id: retrying would fence it back."""


def _fenced(exc: BaseException, producer: KafkaProducer | None) -> bool:
    """Whether ``exc`` means this producer was fenced. kafka-python often wraps the broker's
    ProducerFencedError in a plain KafkaError ("a previous request has failed", "in an error
    state"); the transaction manager keeps the real one."""
    seen: list[object] = [exc, exc.__cause__, *getattr(exc, "args", ())]
    if producer is not None and producer._transaction_manager is not None:
        seen.append(producer._transaction_manager.last_error)
    return any(isinstance(e, FENCED) for e in seen)


class KafkaDelivery(LazyProducer[KafkaProducer]):
    # --- Producer ----------------------------------------------------------------------------
    def producer(self) -> KafkaProducer:
        """The live producer, made (and its transactions initialised) when there is none."""
        if self._producer is None:
            made = self._make()
            if self.transactional:
                try:
                    made.init_transactions()
                except FENCED as exc:
                    made.close(timeout=1)
                    raise Fenced(str(exc)) from exc
                except KafkaError as exc:
                    made.close(timeout=1)
                    raise DeliveryFailed(f"transactions not initialised: {exc}") from exc
            self._producer = made
        return self._producer

    def send(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> Ack:
        try:
            return self.producer().send(topic, key=key, value=value, headers=list(headers or []))  # type: ignore[no-any-return]
        except KafkaError as exc:
            if _fenced(exc, self._producer):
                raise Fenced(str(exc)) from exc
            raise DeliveryFailed(f"could not send to {topic}: {exc}") from exc

    def flush(self, timeout: float | None = None) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(timeout=timeout)
            except KafkaError as exc:
                log.warning("producer.flush_failed", error=str(exc))

    def close(self, timeout: float | None = None) -> None:
        if self._producer is not None:
            self._producer.close(timeout=timeout)
            self._producer = None

    # --- Transactions --------------------------------------------------------------------------
    def begin(self) -> None:
        try:
            self.producer().begin_transaction()
        except KafkaError as exc:
            if _fenced(exc, self._producer):
                raise Fenced(str(exc)) from exc
            self._discard()
            raise DeliveryFailed(f"transaction not begun: {exc}") from exc

    def start_commit(self) -> _Completion:
        return self._begin_completion(commit=True)

    def commit(self) -> None:
        self.start_commit().wait()

    def abort(self) -> None:
        try:
            self._begin_completion(commit=False).wait()
        except DeliveryFailed as exc:
            log.warning("transaction.abort_failed", error=str(exc))

    def _begin_completion(self, commit: bool) -> _Completion:
        producer = self._producer
        if producer is None:
            if commit:
                raise DeliveryFailed("no producer: the transaction was lost")
            return _Completion(self, None, None, commit)
        manager = producer._transaction_manager  # no public API completes a transaction with a time limit
        try:
            result = manager.begin_commit() if commit else manager.begin_abort()
        except KafkaError as exc:
            if _fenced(exc, producer):
                raise Fenced(str(exc)) from exc
            self._discard()
            raise DeliveryFailed(f"transaction not {'committed' if commit else 'aborted'}: {exc}") from exc
        producer._sender.wakeup()
        return _Completion(self, producer, result, commit)

    def _discard(self) -> None:
        """Drop a producer whose transaction state is unknown; the next one settles it."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception as exc:  # closing a broken client must not hide the first error
                log.warning("producer.close_failed", error=str(exc))


class _Completion:
    """A commit or abort under way; :meth:`wait` waits in slices that watch the stop event."""

    def __init__(
        self, owner: KafkaDelivery, producer: KafkaProducer | None, result: Any, commit: bool
    ) -> None:
        self._owner = owner
        self._producer = producer
        self._result = result
        self._what = "committed" if commit else "aborted"

    def wait(self) -> None:
        result, owner = self._result, self._owner
        if result is None:
            return
        deadline = time.monotonic() + owner._timeout
        while not result.is_done:
            if owner._stop.is_set() or time.monotonic() > deadline:
                owner._discard()
                raise DeliveryFailed(f"transaction not {self._what} in time")
            try:
                result.wait(timeout_ms=100)
            except Exception:
                break
        if result.failed:
            if _fenced(result.exception, self._producer):
                raise Fenced(str(result.exception))
            owner._discard()
            raise DeliveryFailed(f"transaction failed: {result.exception}")
