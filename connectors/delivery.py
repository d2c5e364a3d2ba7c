"""What delivery to the broker looks like to the engine: a producer that answers each send with an
acknowledgement, and the one error that means "not delivered, read it again".

kafka-python's KafkaProducer and FutureRecordMetadata fit these protocols; unit tests hand in fakes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

P = TypeVar("P")


class Ack(Protocol):
    """The broker's answer for one record (kafka-python's FutureRecordMetadata fits)."""

    @property
    def is_done(self) -> bool: ...

    @property
    def exception(self) -> BaseException | None: ...

    def failed(self) -> bool: ...

    def get(self, timeout: float | None = None) -> Any: ...


class DeliveryFailed(Exception):
    """A record was not acknowledged (or a position was not saved); the batch must be re-read."""


class Producer(Protocol):
    """Sends records asynchronously (kafka-python's KafkaProducer fits)."""

    def send(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> Ack: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


class Fenced(Exception):
    """Another instance of this connector took over its transactional id: this one must end."""


class Commit(Protocol):
    """A commit under way."""

    def wait(self) -> None:
        """Until it is done. Raises DeliveryFailed if it was not committed (the batch must be
        read again), Fenced if this producer was fenced."""


class Transactions(Protocol):
    """Kafka transactions around one batch (exactly-once delivery).

    Every record sent between :meth:`begin` and a successful :meth:`commit` (events, dead
    letters, index records and the position) becomes visible to ``read_committed`` consumers
    together, or not at all.
    """

    def begin(self) -> None: ...

    def start_commit(self) -> Commit:
        """Start committing the open transaction; nothing may be sent until it is waited for.

        Raises DeliveryFailed or Fenced at once if the commit cannot even start."""

    def commit(self) -> None:
        """``start_commit().wait()``."""

    def abort(self) -> None:
        """Abandon the open transaction, or a failed one, so the next :meth:`begin` can start.

        Never raises DeliveryFailed; raises Fenced if fenced."""


class LazyProducer(Generic[P]):
    """What both producer clients' deliveries keep: how to make the client (made on first use,
    and again after one was discarded), the stop event their waits watch, whether they run
    transactions, and how long a commit or abort may take."""

    def __init__(
        self,
        make: Callable[[], P],
        stop: threading.Event,
        transactional: bool,
        complete_timeout_s: float = 30.0,
    ) -> None:
        self._make = make
        self._stop = stop
        self.transactional = transactional
        self._timeout = complete_timeout_s
        self._producer: P | None = None
