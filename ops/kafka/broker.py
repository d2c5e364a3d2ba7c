"""Resolve, format, start and stop one local Apache Kafka broker+controller (KRaft).

Contract:
- :func:`resolve` puts the pinned release's jars (ops/kafka/pom.xml) under ``home/lib`` once;
  a marker file holding the pom's hash makes later calls free.
- :func:`start` is idempotent: a broker already answering on the port is reported, not started
  twice. It returns only once the broker answers metadata requests, or raises
  :class:`BrokerError` with the tail of the broker's log.
- :func:`stop` sends SIGTERM (a clean controlled shutdown) and waits; SIGKILL after a timeout.
Missing Java 17+ or Maven raises :class:`BrokerError` with one line naming what to install.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from importlib import resources
from pathlib import Path

import structlog

from civicbus.core import secrets

from .settings import BrokerSettings

log = structlog.get_logger(__name__)


class BrokerError(RuntimeError):
    """The local broker could not be resolved, started or stopped; the message says why."""


def _asset(name: str) -> bytes:
    return resources.files("civicbus.ops.kafka").joinpath(name).read_bytes()


def _java_major() -> int:
    java = shutil.which("java")
    if not java:
        raise BrokerError("java not found: install a Java 17+ runtime (Debian: openjdk-17-jre-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(m.group(1)) if m else 0
    return int(m.group(2)) if m and major == 1 and m.group(2) else major


def resolve(cfg: BrokerSettings) -> Path:
    """Download the pinned Kafka release and its runtime dependencies into ``home/lib``."""
    if _java_major() < 17:
        raise BrokerError("Kafka 4 needs Java 17 or newer: install openjdk-17-jre-headless")
    lib = cfg.home / "lib"
    pom = _asset("pom.xml")
    marker = lib / ".pom.sha256"
    digest = hashlib.sha256(pom).hexdigest()
    if marker.exists() and marker.read_text() == digest:
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError("mvn not found: install Apache Maven (Debian: maven) to fetch Kafka")
    cfg.home.mkdir(parents=True, exist_ok=True)
    pom_path = cfg.home / "pom.xml"
    pom_path.write_bytes(pom)
    if lib.exists():
        shutil.rmtree(lib)
    log.info("kafka.resolve.start", pom=str(pom_path))
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom_path),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib.resolve()}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BrokerError(f"maven could not resolve Kafka: {(proc.stdout + proc.stderr)[-2000:]}")
    marker.write_text(digest)
    log.info("kafka.resolve.done", jars=len(list(lib.glob("*.jar"))))
    return lib


_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
BROKER_PRINCIPAL = "broker"
"""The broker's own principal (PLAIN, from its properties file): inter-broker and controller."""
CIVICBUS_PRINCIPAL = "civicbus"
"""civicbus's own principal (SCRAM): connectors, registry, streams and projections. A super user."""


def _listeners(cfg: BrokerSettings) -> str:
    c = cfg.controller_port
    if cfg.auth == "none":
        return f"""listeners=PLAINTEXT://{cfg.host}:{cfg.port},CONTROLLER://{cfg.host}:{c}
advertised.listeners=PLAINTEXT://{cfg.host}:{cfg.port}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"""
    secret = secrets.password(cfg.secrets, BROKER_PRINCIPAL)
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{BROKER_PRINCIPAL}" password="{secret}" user_{BROKER_PRINCIPAL}="{secret}";'
    )
    return f"""listeners=SASL_PLAINTEXT://{cfg.host}:{cfg.port},CONTROLLER://{cfg.host}:{c}
advertised.listeners=SASL_PLAINTEXT://{cfg.host}:{cfg.port}
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config={plain}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={_SCRAM_LOGIN}
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{BROKER_PRINCIPAL};User:{CIVICBUS_PRINCIPAL}
allow.everyone.if.no.acl.found=false"""


def _properties(cfg: BrokerSettings) -> str:
    data = (cfg.home / "data").resolve()
    c = cfg.controller_port
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{cfg.host}:{c}
{_listeners(cfg)}
controller.listener.names=CONTROLLER
log.dirs={data}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.threads=1
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
"""


def _pidfile(cfg: BrokerSettings) -> Path:
    return cfg.home / "broker.pid"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it first when it is our exited child (not a zombie)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: the broker was started by another process
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _running_pid(cfg: BrokerSettings) -> int | None:
    try:
        pid = int(_pidfile(cfg).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _java_cmd(cfg: BrokerSettings, lib: Path, main: str, *args: str) -> list[str]:
    logs = (cfg.home / "logs").resolve()
    return [
        "java",
        "-Xms256m",
        f"-Xmx{cfg.heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={logs}",
        f"-Dlog4j2.configurationFile={(cfg.home / 'log4j2.properties').resolve()}",
        "-cp",
        f"{lib.resolve()}/*",
        main,
        *args,
    ]


def _cluster_id() -> str:
    """A random cluster id as Kafka's own Uuid.randomUuid makes it: URL-safe base64 that never
    starts with '-', which the storage tool's argument parser would take for an option."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def _format(cfg: BrokerSettings, lib: Path, props: Path) -> None:
    if (cfg.home / "data" / "meta.properties").exists():
        return
    cluster_id = _cluster_id()
    proc = subprocess.run(
        _java_cmd(cfg, lib, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "-g"),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BrokerError(f"formatting KRaft storage failed: {(proc.stdout + proc.stderr)[-2000:]}")
    log.info("kafka.format", cluster_id=cluster_id)


def _broker_login(cfg: BrokerSettings) -> dict[str, str]:
    """kafka-python arguments to log in as the broker's own principal (none without auth)."""
    if cfg.auth == "none":
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": BROKER_PRINCIPAL,
        "sasl_plain_password": secrets.password(cfg.secrets, BROKER_PRINCIPAL),
    }


def _serves(cfg: BrokerSettings) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=cfg.bootstrap, request_timeout_ms=3000, **_broker_login(cfg)
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def start(cfg: BrokerSettings) -> int | None:
    """Start the broker unless one answers already; returns the pid of a broker we manage.

    With ``auth: scram`` it also makes sure civicbus's own principal has its SCRAM credential
    (the password in the secrets folder), so civicbus's components can log in."""
    if cfg.auth == "none":
        log.warning(
            "kafka.auth_disabled",
            bootstrap=cfg.bootstrap,
            consequence="any client reaching this port reads every topic, personal data included; "
            "set CIVICBUS_BROKER_AUTH=scram anywhere but a developer laptop",
        )
    if port_open(cfg.host, cfg.port) and _serves(cfg):
        pid = _running_pid(cfg)
        log.info("kafka.already_running", bootstrap=cfg.bootstrap, pid=pid)
        _ensure_civicbus_login(cfg)
        return pid
    lib = resolve(cfg)
    for sub in ("data", "logs"):
        (cfg.home / sub).mkdir(parents=True, exist_ok=True)
    props = cfg.home / "server.properties"
    props.write_text(_properties(cfg))
    (cfg.home / "log4j2.properties").write_bytes(_asset("log4j2.properties"))
    _format(cfg, lib, props)
    out = open(cfg.home / "logs" / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        _java_cmd(cfg, lib, "kafka.Kafka", str(props)),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _pidfile(cfg).write_text(str(proc.pid))
    deadline = time.monotonic() + cfg.start_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"broker exited with {proc.returncode}: {_log_tail(cfg)}")
        if port_open(cfg.host, cfg.port) and _serves(cfg):
            log.info("kafka.started", bootstrap=cfg.bootstrap, pid=proc.pid, auth=cfg.auth)
            _ensure_civicbus_login(cfg)
            return proc.pid
        time.sleep(0.5)
    proc.kill()
    raise BrokerError(f"broker did not answer within {cfg.start_timeout_s}s: {_log_tail(cfg)}")


def _ensure_civicbus_login(cfg: BrokerSettings) -> None:
    """Give civicbus's principal its SCRAM credential (an upsert: the same password is harmless)."""
    if cfg.auth == "none":
        return
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin._scram import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    login = _broker_login(cfg)
    admin = AdminClient(
        {
            "bootstrap.servers": cfg.bootstrap,
            "security.protocol": "sasl_plaintext",
            "sasl.mechanism": "PLAIN",
            "sasl.username": login["sasl_plain_username"],
            "sasl.password": login["sasl_plain_password"],
        }
    )
    upsert = UserScramCredentialUpsertion(
        CIVICBUS_PRINCIPAL,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
        secrets.password(cfg.secrets, CIVICBUS_PRINCIPAL).encode(),
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)
    log.info("kafka.principal_ready", principal=CIVICBUS_PRINCIPAL, mechanism="SCRAM-SHA-512")


def _log_tail(cfg: BrokerSettings) -> str:
    for name in ("server.log", "stdout.log"):
        path = cfg.home / "logs" / name
        if path.exists():
            return path.read_text(errors="replace")[-1500:]
    return "(no log)"


def stop(cfg: BrokerSettings, timeout_s: float = 60.0, force: bool = False) -> bool:
    """Stop the broker this home started; False when none was running.

    ``force`` kills it at once (SIGKILL), as a crash would: what fault tests need."""
    pid = _running_pid(cfg)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL if force else signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    _pidfile(cfg).unlink(missing_ok=True)
    log.info("kafka.stopped", pid=pid)
    return True
