"""What every benchmark needs around the processes it measures: ports, /metrics, memory."""

from __future__ import annotations

import socket
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
    """The process's direct children (Linux: /proc/PID/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found
