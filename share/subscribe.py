"""The downstream app's side: ``civicbus.subscribe(app, view)``, its projected records decoded.

A :class:`Subscription` is an iterator of :class:`Record` (key and value decoded through the
registry; dates as ``datetime.date``) from the app's topic ``civicbus.share.<app>.<view>``, read
``read_committed``, so it never sees a projection's aborted batch. Offsets are committed only by
:meth:`Subscription.commit` (what was yielded so far) in the app's consumer group (``<app>``, or
``<app>.<name>`` for a second reader): a reader that crashes before committing reads those
records again, never loses them.

The app logs in as itself: ``password`` (or ``CIVICBUS_KAFKA_PASSWORD`` / ``_PASSWORD_FILE``
with ``CIVICBUS_KAFKA_USERNAME``). A topic the broker refuses raises :class:`AccessRefused` at
once (kafka-python hides that refusal: its poll returns nothing forever, which is why this reads
with librdkafka's client, as the streams engine does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from civicbus.core import identity
from civicbus.core.settings import BusSettings, load
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder

from .projection import topic

_LIBRDKAFKA = logging.getLogger("librdkafka")


_REFUSED = (
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError._AUTHENTICATION,  # a wrong password, or a login deleted with its grant
)


class AccessRefused(PermissionError):
    """The broker refused the app this topic or group: it has no grant for it (any more)."""


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: Any
    value: dict[str, Any] | None  # None: the view's record was deleted (a tombstone)


class Subscription:
    """One app's reader of one projected view; see the module's contract."""

    def __init__(
        self,
        app: str,
        view: str,
        *,
        password: str | None = None,
        group: str | None = None,
        bootstrap_servers: str | None = None,
        registry_url: str | None = None,
    ) -> None:
        bus = load(BusSettings)
        if password is not None:
            login = {
                "security.protocol": "sasl_plaintext",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": app,
                "sasl.password": password,
            }
        else:
            login = identity.current().librdkafka()
        self.topic = topic(app, view)
        self._refused: KafkaError | None = None
        self._decode = AvroDecoder(RegistryClient(registry_url or bus.registry_url))
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers or bus.bootstrap_servers,
                "group.id": f"{app}.{group}" if group else app,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "logger": _LIBRDKAFKA,
                "error_cb": self._client_error,
                **login,
            }
        )
        self._consumer.subscribe([self.topic])
        self._next: dict[tuple[str, int], int] = {}

    def poll(self, timeout_s: float = 1.0) -> Record | None:
        """The next record, or None when none came within ``timeout_s``."""
        msg = self._consumer.poll(timeout_s)
        if self._refused is not None:
            raise AccessRefused(f"{self.topic}: {self._refused.str()}")
        if msg is None:
            return None
        err = msg.error()
        if err is not None:
            if err.code() in _REFUSED:
                raise AccessRefused(f"{self.topic}: {err.str()}")
            if err.fatal():
                raise RuntimeError(err.str())
            return None
        where: tuple[str, int, int] = (msg.topic(), msg.partition(), msg.offset())  # type: ignore[assignment]
        self._next[where[:2]] = where[2] + 1
        value = msg.value()
        key = msg.key()
        return Record(
            *where,
            self._decode(key) if key is not None else None,
            self._decode(value) if value is not None else None,
        )

    def _client_error(self, err: KafkaError) -> None:
        """librdkafka reports a failed login here (poll only sees nothing arrive)."""
        if err.code() in _REFUSED:
            self._refused = err

    def __iter__(self) -> Iterator[Record]:
        """Records as they come, forever (stop with :meth:`close` or by breaking out)."""
        while True:
            record = self.poll()
            if record is not None:
                yield record

    def commit(self) -> None:
        """Commit every record yielded so far (synchronously)."""
        if self._next:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self._next.items()]
            self._consumer.commit(offsets=offsets, asynchronous=False)

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def subscribe(app: str, view: str, **options: Any) -> Subscription:
    """``app``'s subscription to its projection of ``view`` (options: see :class:`Subscription`)."""
    return Subscription(app, view, **options)
