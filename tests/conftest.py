"""Session fixtures for integration tests: the real Kafka broker and a real registry process.

Nothing here skips. A broker that cannot start, or a PostgreSQL server that does not answer,
fails the tests that need it with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from civicbus.ops.kafka import broker
from civicbus.ops.kafka.settings import BrokerSettings

from .helpers import ROOT, RegistryProcess, running, unique
from .share_setup import Sharing

TEST_BROKER = BrokerSettings(home=ROOT / ".civicbus" / "test-kafka", port=19092, controller_port=19093)
SECURE_BROKER = BrokerSettings(
    home=ROOT / ".civicbus" / "test-kafka-scram", port=19192, controller_port=19193, auth="scram"
)


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """A real single-node Kafka broker for the whole session (started here if not running)."""
    started = not broker.port_open(TEST_BROKER.host, TEST_BROKER.port)
    if started:
        shutil.rmtree(TEST_BROKER.home / "data", ignore_errors=True)
    try:
        broker.start(TEST_BROKER)
    except broker.BrokerError as exc:
        pytest.fail(f"the Kafka broker the integration tests need did not start: {exc}")
    yield TEST_BROKER.bootstrap
    if started:
        broker.stop(TEST_BROKER)


@pytest.fixture(scope="session")
def secure_broker() -> Iterator[BrokerSettings]:
    """A second real broker, with SASL/SCRAM and ACLs enforced: what sharing is tested on."""
    started = not broker.port_open(SECURE_BROKER.host, SECURE_BROKER.port)
    if started:
        for sub in ("data", "logs", "secrets"):
            shutil.rmtree(SECURE_BROKER.home / sub, ignore_errors=True)
    try:
        broker.start(SECURE_BROKER)
    except broker.BrokerError as exc:
        pytest.fail(f"the broker with authorization the sharing tests need did not start: {exc}")
    yield SECURE_BROKER
    if started:
        broker.stop(SECURE_BROKER)


@pytest.fixture(scope="session")
def sharing(secure_broker: BrokerSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sharing]:
    """A registry and ``civicbus share run`` on the broker with authorization, grants in a folder."""
    folder = tmp_path_factory.mktemp("sharing")
    grants = folder / "grants"
    grants.mkdir()
    setup = Sharing(secure_broker, "", grants, unique("civicbus.audit"), folder)
    with RegistryProcess(secure_broker.bootstrap, folder, env=setup.env()) as registry:
        setup.registry_url = registry.url
        setup.create_view_topic()
        with running(["share", "run"], setup.env(), folder / "share.log"):
            yield setup


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def registry_url(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A civicbus registry process for the session, on its own topic."""
    with RegistryProcess(bootstrap, tmp_path_factory.mktemp("registry")) as registry:
        yield registry.url


@pytest.fixture
def bus_env(bootstrap: str, registry_url: str) -> dict[str, str]:
    """Environment for a civicbus child process on the test broker and registry."""
    return {
        "CIVICBUS_BOOTSTRAP_SERVERS": bootstrap,
        "CIVICBUS_REGISTRY_URL": registry_url,
        "CIVICBUS_CONNECTOR_METRICS_PORT": "0",
        "CIVICBUS_CONNECTOR_POSITIONS_TOPIC": unique("positions"),
        "CIVICBUS_STREAMS_METRICS_PORT": "0",
        "CIVICBUS_STREAMS_PROCESSES": "1",  # tests that run more say so
    }


def _answering(env: str, default: str, script: str) -> str:
    """The URL in ``env`` (set by the test command) once the server answers; fails if it does not."""
    import sqlalchemy as sa

    url = os.environ.get(env, default)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{url} is not answering (run ops/local/{script}): {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server ops/local/postgres.sh starts (the test command runs it first)."""
    return _answering(
        "CIVICBUS_TEST_POSTGRES_URL",
        "postgresql+psycopg://civicbus:civicbus@127.0.0.1:54329/civicbus",
        "postgres.sh",
    )


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """The MariaDB server ops/local/mariadb.sh starts (the test command runs it first)."""
    return _answering(
        "CIVICBUS_TEST_MARIADB_URL",
        "mysql+pymysql://civicbus:civicbus@127.0.0.1:33069/civicbus?charset=utf8mb4",
        "mariadb.sh",
    )


@pytest.fixture(params=["postgresql", "mariadb"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each real server in turn."""
    name = "postgres_url" if request.param == "postgresql" else "mariadb_url"
    return str(request.getfixturevalue(name))
