"""The collector setting of long-running processes: what is alive at start is frozen, and young
objects are collected less often, but cyclic garbage is still collected."""

from __future__ import annotations

import gc
import weakref

from civicbus.core import heap


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_what_is_alive_and_still_collects_cycles() -> None:
    before = gc.get_threshold()
    alive = _Node()
    try:
        heap.settle()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, before[1], before[2])
        cycle = _Node()
        gone = weakref.ref(cycle)
        del cycle
        assert gone() is not None  # a cycle is not freed by reference counting
        gc.collect()
        assert gone() is None
        assert alive.me is alive
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
