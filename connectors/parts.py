"""What the connector engine is handed, and the small contracts each part keeps.

The engine (runner.py) builds none of these: wiring.py assembles the Kafka-backed ones for a
running connector, and unit tests hand in fakes, so the engine's guarantees are tested without
a broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .base import Position, Source
from .deadletter import DeadLetters
from .delivery import Ack, Producer, Transactions
from .events import Events
from .reconcile import Reconciler


class Positions(Protocol):
    def load(self, connector: str) -> Position | None:
        """The last saved position, or None."""

    def save(self, connector: str, position: Position) -> None:
        """Store durably before returning; DeliveryFailed if that cannot be done."""

    def stage(self, connector: str, position: Position) -> Ack:
        """Send without waiting (inside a transaction, it commits with the batch)."""


class StatusSink(Protocol):
    def start(self, position: Position | None) -> None:
        """The connector runs from ``position``; publish RUNNING."""

    def publish(self, state: str | None = None) -> None: ...

    def stop(self, timeout_s: float = 5.0) -> None:
        """Publish STOPPED and flush it, waiting at most ``timeout_s``."""

    def tick(self) -> None: ...

    def failed(self) -> None: ...

    def lagging(self, lag_s: float) -> None: ...

    def delivered(self, produced: int, dead: int, position: Any, newest_ts_ms: int | None) -> None: ...


@dataclass
class Parts:
    """Everything one connector's engine works with."""

    source: Source
    producer: Producer
    events: Events
    positions: Positions
    status: StatusSink
    dead_letters: DeadLetters
    reconciler: Reconciler | None = None
    transactions: Transactions | None = None
    """Set for exactly-once delivery: each batch and its position commit in one transaction."""
    decode: Callable[[bytes], Any] | None = None
    """Decodes a delivered event (reconciliation turns its ``after`` into a delete's ``before``)."""
    signals: Any = None
    """Signals for this connector (signals.Signals): taken between batches; None: not listened for."""
