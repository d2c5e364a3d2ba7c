"""Factories for integration tests: processes, topics and connector files with unique names."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.wire import AvroDecoder

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "connectors" / "examples"
VIEWS = ROOT / "streams" / "views" / "examples"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``civicbus ARGS`` as a child process logging to ``log``."""
    out = open(log, "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [sys.executable, "-m", "civicbus", *args],
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``civicbus ARGS`` as a child process for the ``with`` block; stopped (SIGTERM) after it."""
    proc = spawn(args, env, log)
    try:
        yield proc
    finally:
        stop(proc)


def child_pids(proc: subprocess.Popen[bytes], command: bytes) -> list[int]:
    """``proc``'s children whose command line holds ``command``."""
    tasks = Path(f"/proc/{proc.pid}/task")
    children = [int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()]
    found = []
    for pid in children:
        try:
            if command in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except FileNotFoundError:  # exited meanwhile
            continue
    return found


def engine_pids(worker: subprocess.Popen[bytes]) -> list[int]:
    """A streams worker's engine processes: its children spawned by multiprocessing (not its
    resource tracker)."""
    return child_pids(worker, b"spawn_main")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def log_events(log: Path) -> list[dict[str, Any]]:
    """The structured events a civicbus process wrote to ``log`` (its JSON lines), in order."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            return requests.get(url, timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(up, timeout, url)


class RegistryProcess:
    """``civicbus registry serve`` on its own topic and port; every start replays that topic."""

    def __init__(
        self, bootstrap: str, logs: Path, name: str = "registry", env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "CIVICBUS_BOOTSTRAP_SERVERS": bootstrap,
            "CIVICBUS_REGISTRY_PORT": str(self.port),
            "CIVICBUS_REGISTRY_TOPIC": unique(f"_{name}"),
            **(env or {}),
        }
        self._logs = logs
        self._name = name
        self._starts = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._starts += 1
        log = self._logs / f"{self._name}-{self._starts}.log"
        self._proc = spawn(["registry", "serve"], self.env, log)
        wait_http(f"{self.url}/subjects", self._proc, log)

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RegistryProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Record:
    """One consumed Kafka record, as the tests look at it."""

    key: bytes | None
    value: bytes | None
    headers: list[Any]
    partition: int | None
    offset: int | None


def read_topic(
    bootstrap: str,
    topic: str,
    min_count: int = 0,
    timeout: float = 120,
    settle: float = 0.0,
    login: dict[str, str] | None = None,
) -> list[Record]:
    """All committed records of ``topic`` from the beginning, once at least ``min_count`` are there.

    Reads ``read_committed``, as a downstream app of exactly-once connectors does. With ``settle``
    it also reads to the end (the last stable offset) of every partition and returns once it has
    stayed there ``settle`` seconds: a slow first fetch is never mistaken for an empty topic.
    Every wait is bounded by ``timeout``: librdkafka's ``consume`` returns at its own timeout even
    while the broker is away (kafka-python's ``poll`` was seen to hang there). ``login``: librdkafka's
    SASL entries, for a broker with authentication."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("civicbus-test-reader"),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "allow.auto.create.topics": False,
            "log_level": 3,
            **(login or {}),
        }
    )
    records: list[Record] = []
    try:

        def partitions() -> list[int]:
            try:
                meta = consumer.list_topics(timeout=5).topics.get(topic)
            except KafkaException:
                return []
            return sorted(meta.partitions) if meta is not None and meta.error is None else []

        parts = wait_until(partitions, timeout, f"topic {topic}")
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + timeout
        at_end: set[int] = set()
        at_end_since: float | None = None
        while time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.2):
                error = m.error()
                if error is None:
                    headers = list(m.headers() or [])
                    records.append(Record(m.key(), m.value(), headers, m.partition(), m.offset()))
                    at_end.discard(m.partition())
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
            if len(records) >= min_count and not settle:
                break
            if len(at_end) < len(parts) or len(records) < min_count:
                at_end_since = None
            elif at_end_since is None:
                at_end_since = time.monotonic()
            if at_end_since is not None and time.monotonic() - at_end_since >= settle:
                break
    finally:
        consumer.close()
    assert len(records) >= min_count, f"{topic}: {len(records)} records, expected >= {min_count}"
    return records


def decoder(registry_url: str) -> AvroDecoder:
    return AvroDecoder(RegistryClient(registry_url))


def connector_file(tmp: Path, example: str, url: str, **overrides: Any) -> tuple[Path, dict[str, Any]]:
    """A copy of an example connector with a unique name and topic, reading ``url``."""
    cfg = yaml.safe_load((EXAMPLES / example).read_text(encoding="utf-8"))
    cfg["name"] = unique(cfg["name"])
    cfg["source"]["url"] = url
    cfg["target"]["topic"] = unique(cfg["target"]["topic"])
    cfg["poll_interval_s"] = 0.2
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            cfg[section][field] = value
        else:
            cfg[section] = value
    path = tmp / f"{cfg['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path, cfg


@contextmanager
def _locked_out(admin: Any, lock: str, unlock: str, end_sessions: Callable[[Any], None]) -> Iterator[None]:
    """A login refused (``lock``) and its sessions ended inside the block, ``unlock`` after it."""
    import sqlalchemy as sa

    with admin.connect() as conn:
        conn.execute(sa.text(lock))
        end_sessions(conn)
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(unlock))


@dataclass
class Database:
    """A PostgreSQL database and a login role of its own, on the real server (see fresh_database)."""

    name: str
    admin: Any  # sa.Engine, AUTOCOMMIT, as the server's superuser
    reader_url: str  # the role's own URL: what a connector file names
    writer: Any  # sa.Engine as the superuser on this database: writes even while the role is refused

    def logs_changes(self, table: str) -> None:
        """Let the role replicate and ``table`` log whole rows: what log-based capture needs."""
        import sqlalchemy as sa

        with self.admin.connect() as conn:
            conn.execute(sa.text(f"ALTER ROLE {self.name} REPLICATION"))
        with self.writer.begin() as conn:
            conn.execute(sa.text(f'ALTER TABLE "{table}" REPLICA IDENTITY FULL'))

    @contextmanager
    def refused(self) -> Iterator[None]:
        """An outage for the role: logins refused and its sessions ended, inside the block."""
        import sqlalchemy as sa

        def end_sessions(conn: Any) -> None:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :n"),
                {"n": self.name},
            )

        with _locked_out(
            self.admin, f"ALTER ROLE {self.name} NOLOGIN", f"ALTER ROLE {self.name} LOGIN", end_sessions
        ):
            yield


_PASSWORD = "civicbus"


def _new_database(server_url: str, *statements: str) -> tuple[str, Any, str, Any]:
    """Run ``statements`` (``{name}`` filled in) as the server's admin: (the new name, the admin
    engine, the URL of the user named so on its database, an engine writing there as admin)."""
    import sqlalchemy as sa

    admin_url = sa.make_url(server_url)
    name = unique("db").replace("-", "_")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(sa.text(statement.format(name=name)))
    reader = admin_url.set(username=name, password=_PASSWORD, database=name)
    writer = sa.create_engine(admin_url.set(database=name), pool_pre_ping=True)
    return name, admin, reader.render_as_string(hide_password=False), writer


@contextmanager
def fresh_database(postgres_url: str) -> Iterator[Database]:
    """A new database owned by a new role, dropped (with the role) after the block."""
    import sqlalchemy as sa

    name, admin, reader, writer = _new_database(
        postgres_url,
        f"CREATE ROLE {{name}} LOGIN PASSWORD '{_PASSWORD}'",
        "CREATE DATABASE {name} OWNER {name}",
    )
    try:
        yield Database(name, admin, reader, writer)
    finally:
        writer.dispose()
        with admin.connect() as conn:
            # a replication slot keeps its database (and WAL): end its sessions, then drop it
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :n"),
                {"n": name},
            )
            conn.execute(
                sa.text(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE database = :n AND NOT active"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {name}"))
        admin.dispose()


@dataclass
class MariaDatabase:
    """A MariaDB database and a user of its own that may read the binlog (see fresh_mariadb)."""

    name: str
    admin: Any  # sa.Engine, AUTOCOMMIT, as a user with every privilege
    reader_url: str
    writer: Any  # sa.Engine as the admin user on this database: writes while the user is refused

    def _kill_sessions(self, conn: Any) -> None:
        import sqlalchemy as sa

        ids = conn.execute(
            sa.text("SELECT id FROM information_schema.processlist WHERE user = :n"), {"n": self.name}
        ).scalars()
        for session in list(ids):
            with contextlib.suppress(sa.exc.DBAPIError):  # ended meanwhile
                conn.execute(sa.text(f"KILL {int(session)}"))

    @contextmanager
    def refused(self) -> Iterator[None]:
        """An outage for the user: the account locked and its sessions (the binlog's too) killed."""

        user = f"'{self.name}'@'%'"
        with _locked_out(
            self.admin,
            f"ALTER USER {user} ACCOUNT LOCK",
            f"ALTER USER {user} ACCOUNT UNLOCK",
            self._kill_sessions,
        ):
            yield


@contextmanager
def fresh_mariadb(mariadb_url: str) -> Iterator[MariaDatabase]:
    """A new MariaDB database and a user that owns it and may replicate, dropped after the block."""
    import sqlalchemy as sa

    name, admin, reader, writer = _new_database(
        mariadb_url,
        "CREATE DATABASE {name} CHARACTER SET utf8mb4",
        f"CREATE USER '{{name}}'@'%' IDENTIFIED BY '{_PASSWORD}'",
        "GRANT ALL ON {name}.* TO '{name}'@'%'",
        "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{name}'@'%'",
    )
    db = MariaDatabase(name, admin, reader, writer)
    try:
        yield db
    finally:
        writer.dispose()
        with admin.connect() as conn:
            db._kill_sessions(conn)
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(sa.text(f"DROP USER IF EXISTS '{name}'@'%'"))
        admin.dispose()


def view_state(bootstrap: str, registry_url: str, topic: str) -> dict[str, Any]:
    """The latest decoded value per decoded key of a compacted view topic (tombstones remove)."""
    decode = decoder(registry_url)
    state: dict[str, Any] = {}
    for rec in read_topic(bootstrap, topic, 0, timeout=10, settle=0.3):
        key = decode(rec.key)
        if rec.value is None:
            state.pop(key, None)
        else:
            state[key] = decode(rec.value)
    return state


def answers(engine: Any) -> bool:
    """Whether the database behind ``engine`` answers a query now."""
    import sqlalchemy as sa

    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.DBAPIError:
        return False


@dataclass(frozen=True)
class ViewSetup:
    env: dict[str, str]
    """The environment of a streams worker of its own (app id, data folder, views folder)."""
    view: str
    """The view topic."""
    dead_letters: str
    """The view's dead-letter topic."""


def streams_env(bus_env: dict[str, str], tmp: Path, resident_topic: str, subsidy_topic: str) -> ViewSetup:
    """A copy of the shipped resident view reading the two given department topics, with its own
    name, view and dead-letter topics, and the environment of a worker that runs only it."""
    views = tmp / "views"
    views.mkdir(exist_ok=True)
    spec = yaml.safe_load((VIEWS / "resident-profile.yaml").read_text(encoding="utf-8"))
    spec["name"] = unique("resident-profile").lower()
    spec["topic"], spec["dead_letters"] = unique("view"), unique("dlq")
    spec["sources"][0]["topic"], spec["sources"][1]["topic"] = resident_topic, subsidy_topic
    for extra in spec["sources"][2:]:  # 卫健, 残联, 人社: quiet in these tests
        extra["topic"] = unique("quiet")
    (views / "resident-profile.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    env = {
        **bus_env,
        "CIVICBUS_STREAMS_APP_ID": unique("streams"),
        "CIVICBUS_STREAMS_VIEWS_DIR": str(views),
        "CIVICBUS_STREAMS_DATA_DIR": str(tmp / "streams"),
    }
    return ViewSetup(env, spec["topic"], spec["dead_letters"])
