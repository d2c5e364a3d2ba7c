"""The cyclic garbage collector set for a process that moves rows in batches.

CPython runs its cyclic collector on the youngest generation every 700 net allocations of
container objects. A connector keeps a batch of thousands of rows (several containers each)
alive while it is mapped, encoded and produced, so every batch was traversed many times and
promoted into the old generation, whose full collections also traverse every object made at
import. In a 1M-row run of bench/peer_debezium.py the connector spent 13 s in the collector with
CPython's setting and 0.1 s with this one (snapshot: 7.2-7.7 → 6.2-6.7 CPU s per 100k rows);
its peak memory fell (216 → 205 MB), because the hot path makes no cyclic garbage (a test holds
the one source there was, signals.py, to that).
"""

from __future__ import annotations

import ctypes
import gc
import os

YOUNG_THRESHOLD = 50_000
"""Net container allocations between two collections of the youngest generation (CPython: 700)."""

MALLOC_ARENAS = 2
"""glibc's malloc arenas at most (its default: 8 per core). A connector's threads each allocate
rows' larger objects (the chunk selector builds them, the engine frees them), and every arena
keeps freed memory of its own: 203 -> 198 MB peak RSS with an encode worker, 165 -> 159 MB PSS,
rows/s unchanged (bench/peer_debezium.py, 300k rows, one run each)."""
MMAP_THRESHOLD = 256 * 1024
"""Allocations of at least this many bytes are served by their own mapping, returned to the
system when freed. glibc starts at 128 KiB and raises its threshold to the size of each larger
block freed (up to 32 MiB), after which a batch's big buffers (its pickled part for a worker,
the database's result, librdkafka's message sets) are carved from the heap, whose freed space
is kept. Fixed at 256 KiB: peak RSS with an encode worker 204 / 204 -> 199 / 199 MB (PSS 164 ->
157-158), and at 1 MiB 203 / 202 (bench/peer_debezium.py, 1M rows, civicbus only, alternated
runs); rows/s within the runs' spread."""
_M_ARENA_MAX = -8  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def settle(arenas: int = MALLOC_ARENAS) -> None:
    """Called once by a long-running process, after it has imported and built what it keeps for
    its life and before its work starts. Everything alive then is collected once and frozen
    (never traversed again; still freed when nothing refers to it), and the youngest generation
    is collected every :data:`YOUNG_THRESHOLD` net allocations. Cyclic garbage made afterwards
    is still collected, later. With glibc, malloc keeps at most ``arenas`` arenas from then
    on, unless ``MALLOC_ARENA_MAX`` was set (glibc read it at start), and maps blocks of
    :data:`MMAP_THRESHOLD` bytes or more on their own, unless ``MALLOC_MMAP_THRESHOLD_`` was."""
    _tune_malloc(arenas)
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def _tune_malloc(arenas: int) -> None:
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):  # not glibc: its own allocator, left as it is
        return
    libc = ctypes.CDLL(None)
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, arenas)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
