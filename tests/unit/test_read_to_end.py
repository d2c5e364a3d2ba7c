"""Reading a topic to its end: a topic missing from metadata is not taken for an empty one."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest

from civicbus.core import kafka

Record = namedtuple("Record", "offset key value")


class LateMetadataConsumer:
    """A consumer whose metadata learns of the topic only on the third request."""

    def __init__(self) -> None:
        self.asked = 0
        self._position = 0

    def partitions_for_topic(self, topic: str) -> set[int]:
        self.asked += 1
        return {0} if self.asked >= 3 else set()

    def assign(self, tps: list[Any]) -> None: ...

    def seek_to_beginning(self, *tps: Any) -> None: ...

    def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: 2 for tp in tps}

    def poll(self, timeout_ms: int) -> dict[Any, list[Record]]:
        if self._position:
            return {}
        self._position = 2
        tp = kafka.TopicPartition("_schemas", 0)
        return {tp: [Record(0, b"k1", b"schema 1"), Record(1, b"k2", b"schema 2")]}

    def position(self, tp: Any) -> int:
        return self._position

    def close(self) -> None: ...


def test_a_topic_that_must_exist_is_waited_for_until_metadata_knows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = LateMetadataConsumer()
    monkeypatch.setattr(kafka, "consumer", lambda *a, **k: fake)
    assert list(kafka.read_to_end("b:9092", "_schemas")) == [(b"k1", b"schema 1"), (b"k2", b"schema 2")]
    assert fake.asked == 3


def test_a_topic_that_may_be_absent_yields_nothing_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = LateMetadataConsumer()
    monkeypatch.setattr(kafka, "consumer", lambda *a, **k: fake)
    assert list(kafka.read_to_end("b:9092", "status", must_exist=False)) == []
    assert fake.asked == 1


def test_a_topic_that_never_shows_up_is_an_error_not_an_empty_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = LateMetadataConsumer()
    fake.asked = -(10**9)
    monkeypatch.setattr(kafka, "consumer", lambda *a, **k: fake)
    monkeypatch.setattr(kafka, "METADATA_WAIT_S", 0.5)
    with pytest.raises(TimeoutError, match="no partitions in the metadata"):
        list(kafka.read_to_end("b:9092", "_schemas"))
