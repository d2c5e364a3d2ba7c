"""What civicbus processes do while the broker is gone: CPU, and how fast SIGTERM ends them.

    .venv/bin/python -m bench.broker_away [--away-s 60]

Starts its own broker (on free ports, in a temporary home), a registry, a connector on the
sample household-registration database (twice: on confluent-kafka, the connector's producer, and
on kafka-python) and the streams worker. Measures each process's CPU for
``--away-s`` seconds with the broker up and idle (the baseline), SIGKILLs the broker, measures
CPU again for ``--away-s`` seconds, then sends SIGTERM to each process and times its exit.
Targets (issue 8): under 5 % of a core with the broker away; every process gone within 10 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from civicbus.demo.generate import generate
from civicbus.ops.kafka import broker
from civicbus.ops.kafka.settings import BrokerSettings

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_share(procs: dict[str, subprocess.Popen[bytes]], seconds: float) -> dict[str, float]:
    before = {name: cpu_s(p.pid) for name, p in procs.items()}
    time.sleep(seconds)
    return {name: (cpu_s(p.pid) - before[name]) / seconds for name, p in procs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--away-s", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="civicbus-away-"))
    cfg = BrokerSettings(home=work / "kafka", port=free_port(), controller_port=free_port())
    lib = BrokerSettings().home / "lib"  # reuse the jars resolved by set-up
    if lib.exists():
        (work / "kafka").mkdir()
        (work / "kafka" / "lib").symlink_to(lib.resolve())
    broker.start(cfg)
    generate(f"sqlite:///{work / 'hukou.db'}", f"sqlite:///{work / 'minzheng.db'}", 2000)
    connector = yaml.safe_load((ROOT / "connectors/examples/gongan-hukou.yaml").read_text(encoding="utf-8"))
    connector["source"]["url"] = f"sqlite:///{work / 'hukou.db'}"
    (work / "c.yaml").write_text(yaml.safe_dump(connector, allow_unicode=True), encoding="utf-8")
    registry_port = free_port()
    env = {
        **os.environ,
        "CIVICBUS_BOOTSTRAP_SERVERS": cfg.bootstrap,
        "CIVICBUS_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
        "CIVICBUS_REGISTRY_PORT": str(registry_port),
        "CIVICBUS_CONNECTOR_METRICS_PORT": "0",
        "CIVICBUS_STREAMS_METRICS_PORT": "0",
        "CIVICBUS_STREAMS_DATA_DIR": str(work / "streams"),
        "CIVICBUS_STREAMS_PROCESSES": "1",  # the CPU sampled is one process's: one engine in it
        "CIVICBUS_LOG_LEVEL": "WARNING",
    }

    def spawn(*command: str, **extra: str) -> subprocess.Popen[bytes]:
        log = open(work / f"{command[0]}-{len(extra)}.log", "ab")  # noqa: SIM115 - the child writes it
        return subprocess.Popen(
            [sys.executable, "-m", "civicbus", *command], env={**env, **extra}, stderr=log, stdout=log
        )

    procs = {"registry": spawn("registry", "serve")}
    time.sleep(5)
    procs["connector"] = spawn("connectors", "run", str(work / "c.yaml"))
    # the same connector under another name on the other producer client, for the comparison
    connector["name"] = "gongan-hukou-kafka-python"
    connector["target"]["topic"] += ".kafka-python"
    (work / "kp.yaml").write_text(yaml.safe_dump(connector, allow_unicode=True), encoding="utf-8")
    procs["connector (kafka-python)"] = spawn(
        "connectors", "run", str(work / "kp.yaml"), CIVICBUS_CONNECTOR_PRODUCER="kafka-python"
    )
    procs["streams"] = spawn("streams", "worker")
    time.sleep(20)  # the sample rows delivered and folded; everything idle
    print(f"logs in {work}")
    up = cpu_share(procs, args.away_s)
    broker.stop(cfg, force=True)
    away = cpu_share(procs, args.away_s)
    print(f"{'process':<28}{'CPU, broker up':>16}{'CPU, broker away':>18}{'SIGTERM → exit':>16}")
    for name, proc in procs.items():
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
            took = f"{time.monotonic() - began:.1f} s"
        except subprocess.TimeoutExpired:
            proc.kill()
            took = "> 120 s (killed)"
        print(f"{name:<28}{up[name]:>15.1%}{away[name]:>18.1%}{took:>16}")


if __name__ == "__main__":
    main()
