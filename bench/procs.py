"""What every benchmark needs around the processes it measures: ports, /metrics, memory, CPU."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int, metric: str) -> float:
    """The sum of ``metric`` over its labels on 127.0.0.1:``port``/metrics; 0 while unreachable."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(metric + "{") or line.startswith(metric + " ")
    )


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_peak_rss_mb(pid: int) -> float:
    """The process's peak resident set plus each direct child's (a connector's encode workers,
    a stream worker's children): an upper bound of their peak together, shared pages counted in
    each."""
    return peak_rss_mb(pid) + sum(peak_rss_mb(child) for child in children(pid))


def children(pid: int) -> list[int]:
    """The process's direct children (Linux: /proc/PID/task/*/children); raises OSError when
    the process is gone."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:  # the thread ended after it was listed
            continue
    return found


def cpu_s(pid: int) -> float:
    """The CPU time (user + system) the process has used so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """:func:`cpu_s` of the process plus each of its running direct children."""
    try:
        kids = children(pid)
    except OSError:
        kids = []
    return cpu_s(pid) + sum(cpu_s(child) for child in kids)


def pss_mb(pid: int) -> float:
    """The process's proportional set now: its private pages, plus each page it shares divided
    by the number of processes mapping it (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PssWatch:
    """Samples the summed proportional set of a process and its direct children every
    ``every_s`` on a thread of its own, keeping the greatest sum: the memory a multi-process
    system holds, each library page counted once (the kernel keeps no peak of it, so a spike
    shorter than ``every_s`` may be missed)."""

    def __init__(self, pid: int, every_s: float = 0.25) -> None:
        self._pid = pid
        self._every_s = every_s
        self._stop = threading.Event()
        self.peak_mb = 0.0
        self._thread = threading.Thread(target=self._run, name="pss-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                pids = [self._pid, *children(self._pid)]
            except OSError:  # the process is gone
                return
            self.peak_mb = max(self.peak_mb, sum(pss_mb(p) for p in pids))

    def stop(self) -> float:
        """Stop sampling; the greatest sum seen."""
        self._stop.set()
        self._thread.join()
        return self.peak_mb
