"""The benchmarks' memory and CPU figures of a multi-process system: its children included."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.procs import PssWatch, cpu_s, pss_mb, tree_cpu_s

from ..helpers import wait_until

# A parent holding 40 MB that starts a child holding 60 MB; both wait for stdin to close.
_TREE = """
import subprocess, sys
held = bytearray(40 << 20)
child = subprocess.Popen([sys.executable, "-c", "import sys; held = bytearray(60 << 20); sys.stdin.read()"],
                         stdin=subprocess.PIPE)
print("ready", flush=True)
sys.stdin.read()
child.stdin.close()
child.wait()
"""


@contextmanager
def _tree(script: str, says: str) -> Iterator[subprocess.Popen[str]]:
    """``script`` run with pipes, once it printed ``says``; ended (stdin closed) on exit."""
    tree = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert tree.stdout is not None and tree.stdout.readline().strip() == says
        yield tree
    finally:
        assert tree.stdin is not None
        tree.stdin.close()
        tree.wait(timeout=60)


def test_the_peak_counts_the_process_and_its_children() -> None:
    with _tree(_TREE, "ready") as tree:
        watch = PssWatch(tree.pid, every_s=0.05)
        wait_until(lambda: watch.peak_mb >= 100, 60, "the parent's 40 MB and the child's 60 MB summed")
        assert pss_mb(tree.pid) < 100  # the parent alone holds less: the child was counted too
    assert watch.stop() >= 100
    assert pss_mb(tree.pid) == 0.0  # a process that is gone holds nothing


# A parent whose child spins until it has used 0.5 s of CPU; both then wait for stdin to close.
_SPINNING = """
import subprocess, sys
spin = "import sys, time\\nwhile time.process_time() < 0.5: pass\\nprint('spun', flush=True)\\ninput()"
out = subprocess.PIPE
child = subprocess.Popen([sys.executable, "-c", spin], stdin=out, stdout=out, text=True)
print(child.stdout.readline().strip(), flush=True)
sys.stdin.read()
child.stdin.close()
child.wait()
"""


def test_cpu_time_counts_the_process_and_its_children() -> None:
    with _tree(_SPINNING, "spun") as tree:
        assert cpu_s(tree.pid) < 0.5  # the parent only started and waited
        assert tree_cpu_s(tree.pid) >= 0.5
    assert cpu_s(tree.pid) == 0.0
