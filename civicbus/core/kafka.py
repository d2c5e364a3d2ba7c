"""Kafka plumbing shared by connectors, the registry and the tools.

- :func:`with_backoff` builds a client while the broker is away, logging each wait; it gives up only
  when its ``stop`` event is set (raising :class:`Stopped`), so a broker outage at start-up is a
  wait, not a traceback, and SIGTERM still ends the wait at once.
- :func:`ensure_topic` creates a topic (idempotently) with the config its owner needs.
- :func:`read_to_end` replays a topic from the beginning up to the end offsets it had when called:
  how the registry and the position store rebuild their state after a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError, TopicAuthorizationFailedError

from . import identity
from .backoff import Backoff, Stopped, retry

log = structlog.get_logger(__name__)
T = TypeVar("T")

RETRYABLE = (KafkaError, OSError)
BOOTSTRAP_TIMEOUT_MS = 5000
"""How long one client construction waits for a broker before :func:`with_backoff` logs and retries."""

__all__ = [
    "Stopped",
    "admin",
    "check_authorized",
    "consumer",
    "ensure_topic",
    "producer",
    "read_to_end",
    "with_backoff",
]


def with_backoff(factory: Callable[[], T], what: str, stop: threading.Event | None = None) -> T:
    """Call ``factory`` until it succeeds, waiting with :class:`~.backoff.Backoff` between attempts.

    Each wait is logged as ``kafka.unavailable``. Raises :class:`Stopped` once ``stop`` is set;
    non-retryable errors propagate at once.
    """
    return retry(factory, what, RETRYABLE, stop, event="kafka.unavailable")


def admin(bootstrap: str, stop: threading.Event | None = None) -> KafkaAdminClient:
    return with_backoff(
        lambda: KafkaAdminClient(
            bootstrap_servers=bootstrap,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            **identity.current().kafka_python(),
        ),
        "admin",
        stop,
    )


def producer(bootstrap: str, what: str, stop: threading.Event | None = None, **config: Any) -> KafkaProducer:
    """A producer that acknowledges with every in-sync replica and never duplicates on retry."""
    settings = {"acks": "all", "enable_idempotence": True, **identity.current().kafka_python(), **config}
    return with_backoff(
        lambda: KafkaProducer(
            bootstrap_servers=bootstrap, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, **settings
        ),
        what,
        stop,
    )


def consumer(bootstrap: str, what: str, **config: Any) -> KafkaConsumer:
    """A consumer with no group (it commits nothing) unless ``group_id`` is given.

    It reads ``read_committed`` unless told otherwise: connectors write in transactions, and a
    reader must not see a batch that was aborted (it is read again and sent again)."""
    settings = {
        "group_id": None,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        **identity.current().kafka_python(),
        **config,
    }
    return with_backoff(
        lambda: KafkaConsumer(
            bootstrap_servers=bootstrap, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, **settings
        ),
        what,
    )


def ensure_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    compacted: bool = False,
    config: dict[str, str] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Create ``name`` unless it exists. An existing topic is left as it is."""
    conf = dict(config or {})
    if compacted:
        conf.setdefault("cleanup.policy", "compact")
    client = admin(bootstrap, stop)
    try:
        client.create_topics([NewTopic(name, partitions, 1, topic_configs=conf)])
        log.info("kafka.topic.created", topic=name, partitions=partitions, config=conf)
    except TopicAlreadyExistsError:
        pass
    finally:
        client.close()


def check_authorized(bootstrap: str, topic: str) -> None:
    """Raise TopicAuthorizationFailedError if the broker refuses ``topic`` to this principal.

    kafka-python's consumer asks for every topic's metadata, which leaves a refused topic out
    without a word, so a reader waiting for it would wait forever; this asks for it by name.
    (A broker answers the same for a topic that does not exist and one the principal may not
    see, so nothing leaks about topics it is refused.)"""
    probe = admin(bootstrap)
    try:
        (described,) = probe.describe_topics([topic])
    finally:
        probe.close()
    if described["error_code"] == TopicAuthorizationFailedError.errno:
        raise TopicAuthorizationFailedError(f"{topic}: not authorized for this principal")


METADATA_WAIT_S = 60.0
"""How long :func:`read_to_end` waits for a topic that must exist to show up in metadata."""


def read_to_end(
    bootstrap: str, topic: str, committed_only: bool = False, must_exist: bool = True
) -> Iterator[tuple[bytes | None, bytes | None]]:
    """Yield every (key, value) of ``topic`` from offset 0 up to the end offsets seen at call time.

    Records written after the call starts may or may not be included. Uses no consumer group.
    With ``committed_only``, reads ``read_committed``: records of aborted or open transactions
    are skipped, and the end is the last stable offset.

    A topic absent from the metadata is not an empty topic: a broker that has not yet caught up
    on a topic just created, or a metadata request that failed, says nothing about its records.
    With ``must_exist`` (callers that created it, like the registry and the position store) the
    read waits for it and raises TimeoutError after :data:`METADATA_WAIT_S`; otherwise an
    absent topic yields nothing.
    """
    isolation = "read_committed" if committed_only else "read_uncommitted"
    client = consumer(bootstrap, f"read {topic}", isolation_level=isolation)
    try:
        parts = client.partitions_for_topic(topic) or set()
        waits = Backoff(cap_s=5.0, first_s=0.2)
        deadline = time.monotonic() + METADATA_WAIT_S
        while not parts and must_exist:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"topic {topic} has no partitions in the metadata after {METADATA_WAIT_S} s"
                )
            delay = waits.next_delay()
            log.info("kafka.topic_not_in_metadata", topic=topic, retry_in_s=delay)
            time.sleep(delay)
            parts = client.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return
        client.assign(tps)
        client.seek_to_beginning(*tps)
        end = client.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        deadline = time.monotonic() + 120
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within 120 s")
            for tp, records in client.poll(timeout_ms=500).items():
                for rec in records:
                    if rec.offset < end[tp]:
                        yield rec.key, rec.value
            remaining = {tp for tp in remaining if client.position(tp) < end[tp]}
    finally:
        client.close()
