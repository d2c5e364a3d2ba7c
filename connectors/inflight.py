"""Batches produced but not yet acknowledged, in the order they were read.

The runner reads and produces the next batch while the broker acknowledges the previous one,
and saves a batch's position only when that batch and every batch before it were acknowledged:
the saved position is never ahead of delivery. A failed batch fails everything after it too;
the runner then re-reads from the last saved position (at-least-once).
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

T = TypeVar("T")


@dataclass
class Batch(Generic[T]):
    futures: list[FutureRecordMetadata]
    position: Any
    info: T


class InFlight(Generic[T]):
    def __init__(self) -> None:
        self._queue: deque[Batch[T]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, futures: list[FutureRecordMetadata], position: Any, info: T) -> None:
        self._queue.append(Batch(futures, position, info))

    def acknowledged(self) -> list[Batch[T]]:
        """Remove and return the leading batches whose every record is acknowledged.

        Raises the first failure of the leading unfinished batch, after forgetting every batch
        (they are all re-read)."""
        done: list[Batch[T]] = []
        while self._queue:
            head = self._queue[0]
            if not all(f.is_done for f in head.futures):
                break
            failed = next((f.exception for f in head.futures if f.failed()), None)
            if failed is not None:
                self._queue.clear()
                raise failed
            done.append(self._queue.popleft())
        return done

    def wait_oldest(self, all_of_them: bool = False, timeout_s: float = 300) -> None:
        """Block until the oldest batch (or every batch) is finished, acknowledged or failed."""
        for batch in list(self._queue) if all_of_them else list(self._queue)[:1]:
            for f in batch.futures:
                with contextlib.suppress(KafkaError):  # acknowledged() reports it, in order
                    f.get(timeout=timeout_s)

    def clear(self) -> None:
        self._queue.clear()
