"""Connector status, published by each running connector to a compacted topic, read by
``civicbus connectors status``: what operations staff ask first (is it running, where is it,
how far behind, how fast, how many errors), without scraping every process.

A connector publishes when it starts, then at most every ``interval_s`` (checked on every poll,
busy or idle), and once when it stops.
Values are JSON; the key is the connector's name, so compaction keeps the latest word on each.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from civicbus.core.kafka import read_to_end

from .delivery import Producer


@dataclass
class Status:
    connector: str
    state: str = "RUNNING"
    topic: str = ""
    position: Any = None
    rows_produced: int = 0
    dead_letters: int = 0
    errors: int = 0
    lag_s: float | None = None
    rate_rows_s: float = 0.0
    updated_ms: int = 0


@dataclass
class StatusReporter:
    """Keeps one connector's counters and publishes them; not thread-safe (one runner thread)."""

    producer: Producer
    topic: str
    status: Status
    interval_s: float = 5.0
    _window: deque[tuple[float, int]] = field(default_factory=deque)
    _last: float = 0.0

    def __post_init__(self) -> None:
        self._window.append((time.monotonic(), self.status.rows_produced))

    def delivered(self, produced: int, dead: int, position: Any, newest_ts_ms: int | None) -> None:
        now = time.monotonic()
        s = self.status
        s.rows_produced += produced
        s.dead_letters += dead
        s.position = position
        self._window.append((now, s.rows_produced))
        while len(self._window) > 1 and now - self._window[0][0] > 60:
            self._window.popleft()
        first_t, first_n = self._window[0]
        s.rate_rows_s = round((s.rows_produced - first_n) / (now - first_t), 1) if now > first_t else 0.0

    def start(self, position: Any) -> None:
        self.status.position = position
        self.publish("RUNNING")

    def tick(self) -> None:
        """Publish if the last publication is older than the interval."""
        if time.monotonic() - self._last >= self.interval_s:
            self.publish()

    def lagging(self, lag_s: float) -> None:
        """How far behind its source the connector is (civicbus_connector_source_lag_seconds)."""
        self.status.lag_s = round(lag_s, 3)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Publish STOPPED and wait up to ``timeout_s`` for it to be delivered."""
        self.publish("STOPPED")
        self.producer.flush(timeout=timeout_s)

    def failed(self) -> None:
        self.status.errors += 1

    def publish(self, state: str | None = None) -> None:
        if state:
            self.status.state = state
        self.status.updated_ms = int(time.time() * 1000)
        self._last = time.monotonic()
        self.producer.send(
            self.topic,
            key=self.status.connector.encode(),
            value=json.dumps(asdict(self.status), ensure_ascii=False).encode(),
        )


def read_all(bootstrap: str, topic: str) -> list[Status]:
    latest: dict[str, Status] = {}
    for key, value in read_to_end(bootstrap, topic, must_exist=False):
        if key is not None and value is not None:
            latest[key.decode()] = Status(**json.loads(value))
    return [latest[k] for k in sorted(latest)]
