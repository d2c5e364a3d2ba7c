"""The collector setting of long-running processes: what is alive at start is frozen, and young
objects are collected less often, but cyclic garbage is still collected."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
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


# Eight threads allocating and freeing blocks too large for Python's own allocator at once, then
# glibc's report of its arenas (malloc_stats prints one "Arena N:" line each, to stderr).
_THREADS = """
import ctypes, sys, threading
from civicbus.core import heap
if sys.argv[1] == "settled":
    heap.settle()
def churn():
    for _ in range(20_000):
        blocks = [bytearray(4096) for _ in range(8)]
        del blocks
threads = [threading.Thread(target=churn) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", _THREADS, mode], env=env, capture_output=True, text=True, check=True
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_settle_caps_glibcs_malloc_arenas() -> None:
    assert 1 <= _arenas("settled") <= heap.MALLOC_ARENAS


# After a 4 MiB block is freed, glibc's own threshold would serve 512 KiB blocks from the heap.
_BLOCKS = """
import ctypes, sys
from civicbus.core import heap
if sys.argv[1] == "settled":
    heap.settle()
big = bytearray(4 << 20)
del big
blocks = [bytearray(512 << 10) for _ in range(20)]
ctypes.CDLL(None).malloc_stats()
"""


def _max_mmap_regions(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKS, mode], env=env, capture_output=True, text=True, check=True
    )
    return max(int(line.split("=")[1]) for line in done.stderr.splitlines() if "max mmap regions" in line)


def test_settle_maps_large_blocks_on_their_own_whatever_was_freed_before() -> None:
    assert _max_mmap_regions("settled") >= 20
    assert _max_mmap_regions("plain") < 20  # glibc's default, which the test would not tell apart
