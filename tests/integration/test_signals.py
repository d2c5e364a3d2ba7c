"""Signals to a running connector, on the real broker: each taken once, only by the connector it
names, and taking them keeps nothing of the engine's alive."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from civicbus.connectors import signals as signalling
from civicbus.connectors.signals import Signals

from ..helpers import unique, wait_until

pytestmark = pytest.mark.integration


def _taken(signals: Signals, found: list[dict[str, Any]]) -> bool:
    found.extend(signals.take())
    return bool(found)


def test_a_signal_is_taken_once_by_the_connector_it_names(bootstrap: str) -> None:
    topic = unique("signals")
    first = signalling.send(bootstrap, topic, "c1", "snapshot")
    signalling.send(bootstrap, topic, "c2", "snapshot")
    signals = Signals(bootstrap, topic, "c1")
    found: list[dict[str, Any]] = []
    try:
        wait_until(lambda: _taken(signals, found), 60, "the signal taken")
    finally:
        signals.close()
    assert [(s["action"], s["id"]) for s in found] == [("snapshot", first)]

    second = signalling.send(bootstrap, topic, "c1", "snapshot")
    again = Signals(bootstrap, topic, "c1")  # a restart: the group's offset is past the first
    found = []
    try:
        wait_until(lambda: _taken(again, found), 60, "the second signal taken")
    finally:
        again.close()
    assert [s["id"] for s in found] == [second]


class _Batch:
    """Stands for the rows an engine holds while it takes signals."""


def test_taking_signals_keeps_no_caller_frame_alive(bootstrap: str) -> None:
    signals = Signals(bootstrap, unique("signals"), "c1")

    def engine_step() -> weakref.ref[_Batch]:
        batch = _Batch()
        signals.take()
        return weakref.ref(batch)

    gc.disable()  # what a reference cycle holds stays held until the collector runs
    try:
        held = [engine_step() for _ in range(3)]
    finally:
        gc.enable()
        signals.close()
    assert all(ref() is None for ref in held), "a batch outlived the step that took signals"
