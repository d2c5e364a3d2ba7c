"""Kafka plumbing shared by connectors, the registry and the tools.

- :func:`with_backoff` builds a client while the broker is away, logging each wait; it never gives
  up unless given a deadline, so a broker outage at start-up is a wait, not a traceback.
- :func:`ensure_topic` creates a topic (idempotently) with the config its owner needs.
- :func:`read_to_end` replays a topic from the beginning up to the end offsets it had when called:
  how the registry and the position store rebuild their state after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_delay,
    stop_never,
    wait_exponential,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")

RETRYABLE = (KafkaError, OSError)


def with_backoff(factory: Callable[[], T], what: str, deadline_s: float | None = None) -> T:
    """Call ``factory`` until it succeeds; waits 0.5 s doubling to 10 s between attempts."""

    def _log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "kafka.unavailable",
            what=what,
            attempt=state.attempt_number,
            retry_in_s=round(state.upcoming_sleep, 2),
            error=str(exc),
        )

    wrapped = retry(
        retry=retry_if_exception_type(RETRYABLE),
        wait=wait_exponential(multiplier=0.5, max=10),
        stop=stop_after_delay(deadline_s) if deadline_s else stop_never,
        before_sleep=_log,
        reraise=True,
    )(factory)
    return wrapped()


def admin(bootstrap: str) -> KafkaAdminClient:
    return with_backoff(lambda: KafkaAdminClient(bootstrap_servers=bootstrap), "admin")


def ensure_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    compacted: bool = False,
    config: dict[str, str] | None = None,
) -> None:
    """Create ``name`` unless it exists. An existing topic is left as it is."""
    conf = dict(config or {})
    if compacted:
        conf.setdefault("cleanup.policy", "compact")
    client = admin(bootstrap)
    try:
        client.create_topics([NewTopic(name, partitions, 1, topic_configs=conf)])
        log.info("kafka.topic.created", topic=name, partitions=partitions, config=conf)
    except TopicAlreadyExistsError:
        pass
    finally:
        client.close()


def read_to_end(bootstrap: str, topic: str) -> Iterator[tuple[bytes | None, bytes | None]]:
    """Yield every (key, value) of ``topic`` from offset 0 up to the end offsets seen at call time.

    Records written after the call starts may or may not be included. Uses no consumer group.
    """
    consumer = with_backoff(
        lambda: KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000
        ),
        f"read {topic}",
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        deadline = time.monotonic() + 120
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within 120 s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for rec in records:
                    if rec.offset < end[tp]:
                        yield rec.key, rec.value
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp]}
    finally:
        consumer.close()
