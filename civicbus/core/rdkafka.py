"""What every librdkafka (confluent-kafka) client of civicbus shares: where its log goes, and
its error callback."""

from __future__ import annotations

import logging
import time

import structlog
from confluent_kafka import KafkaError

log = structlog.get_logger(__name__)
LIBRDKAFKA_LOG = logging.getLogger("librdkafka")
"""librdkafka's own log lines, through Python's logging (the clients' ``logger``)."""


class ErrorLog:
    """librdkafka's error callback: what it retries itself (the broker away), logged once per
    kind of error every ``every_s`` with how often it recurred meanwhile. A fatal error also
    surfaces from the client's next call, which ends the session."""

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self._last: dict[int, tuple[float, int]] = {}  # error code → (last logged, repeats since)

    def __call__(self, err: KafkaError) -> None:
        now = time.monotonic()
        logged, repeats = self._last.get(err.code(), (-self.every_s, 0))
        if now - logged < self.every_s and not err.fatal():
            self._last[err.code()] = (logged, repeats + 1)
            return
        self._last[err.code()] = (now, 0)
        log.warning("kafka.client_error", error=err.str(), fatal=err.fatal(), repeated=repeats)
