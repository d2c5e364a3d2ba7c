"""A RocksDB store holds what its checkpoint says, after a clean close and after a kill."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from civicbus.streams.engine.stores import RocksStore

WRITER = """
import os, sys
from pathlib import Path
from civicbus.streams.engine.stores import RocksStore
store = RocksStore(Path(sys.argv[1]))
count = int(sys.argv[2])
for n in range(1, count + 1):
    store.write({b"k%d" % n: b"x" * 200}, n)
    if n == count // 2:
        store._db.flush()  # what RocksDB does by itself when its write buffer fills
if sys.argv[3] == "kill":
    os.kill(os.getpid(), 9)
store.close()
"""


def write_batches(path: Path, count: int, end: str) -> int:
    """Write ``count`` batches in a child process, flushing after half; its exit code."""
    return subprocess.run([sys.executable, "-c", WRITER, str(path), str(count), end], check=False).returncode


def test_a_closed_store_holds_every_write(tmp_path: Path) -> None:
    assert write_batches(tmp_path, 500, "close") == 0
    store = RocksStore(tmp_path)
    assert store.checkpoint == 500
    assert all(store.get(b"k%d" % n) == b"x" * 200 for n in range(1, 501))
    store.close()


def test_a_killed_store_holds_exactly_what_its_checkpoint_says(tmp_path: Path) -> None:
    assert write_batches(tmp_path, 500, "kill") == -9
    store = RocksStore(tmp_path)
    assert store.checkpoint == 250  # the writes after the flush are lost, their checkpoint too
    assert all(store.get(b"k%d" % n) is not None for n in range(1, 251))
    assert all(store.get(b"k%d" % n) is None for n in range(251, 501))
    store.close()
