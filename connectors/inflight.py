"""Batches produced but not yet acknowledged, in the order they were read.

The runner reads and produces the next batch while the broker acknowledges the previous one, and
saves a batch's position only when that batch and every batch before it were acknowledged: the
saved position is never ahead of delivery, whatever order acknowledgements arrive in. A failed
batch fails everything after it too; the runner then re-reads from the last saved position
(at-least-once).
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .delivery import Ack, DeliveryFailed

T = TypeVar("T")


@dataclass
class Batch(Generic[T]):
    acks: list[Ack]
    position: Any
    info: T


class InFlight(Generic[T]):
    def __init__(self) -> None:
        self._queue: deque[Batch[T]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, acks: list[Ack], position: Any, info: T) -> None:
        self._queue.append(Batch(acks, position, info))

    def acknowledged(self) -> list[Batch[T]]:
        """Remove and return the leading batches whose every record is acknowledged.

        A later batch acknowledged before an earlier one waits for it. Raises DeliveryFailed
        (from the broker's error) on the first failure in the leading batches, after forgetting
        every batch: they are all re-read."""
        done: list[Batch[T]] = []
        while self._queue:
            head = self._queue[0]
            if not all(a.is_done for a in head.acks):
                break
            failed = next((a.exception for a in head.acks if a.failed()), None)
            if failed is not None:
                self._queue.clear()
                raise DeliveryFailed(str(failed)) from failed
            done.append(self._queue.popleft())
        return done

    def wait_oldest(self, all_of_them: bool = False, timeout_s: float = 300) -> None:
        """Block until the oldest batch (or every batch) is finished, acknowledged or failed.

        Failures are not raised here: :meth:`acknowledged` reports them, in order."""
        for batch in list(self._queue) if all_of_them else list(self._queue)[:1]:
            for ack in batch.acks:
                with contextlib.suppress(Exception):
                    ack.get(timeout=timeout_s)

    def clear(self) -> None:
        self._queue.clear()
