"""The sinks an app runs, as the app, on the broker with authorization: the PostgreSQL sink ends
with every row once through ten SIGKILLs; the webhook sink loses nothing to a server that fails."""

from __future__ import annotations

import base64
import hmac
import json
import signal
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from civicbus.share.sinks.webhook import signature

from ..helpers import fresh_database, read_topic, spawn, stop, unique, wait_until
from ..share_setup import VIEW, Sharing, household

KILLS = 10


def keyed(sharing: Sharing, topic: str) -> tuple[dict[str, int], dict[int, int]]:
    """The offset of each key's last record on ``topic`` (keys as their Avro string's text), and
    each partition's offset after its last record (a transaction's commit marker comes after it)."""
    last: dict[str, int] = {}
    ends: dict[int, int] = {}
    for record in read_topic(sharing.bootstrap, topic, settle=1.0, login=sharing.civicbus):
        assert record.key is not None and record.offset is not None and record.partition is not None
        last[record.key[6:].decode()] = record.offset  # framing (5 bytes) and a one-byte length
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    return last, ends


def test_the_postgres_sink_killed_ten_times_ends_with_every_row_once(
    sharing: Sharing, postgres_url: str, tmp_path: Path
) -> None:
    app = unique("pgsink").lower()
    sharing.grant(app)
    sharing.wait_audit("projection.started", app)
    prefix = f"P{unique('')[-6:]}"
    homes = [household(f"{prefix}{n:04d}") for n in range(3000)]
    sharing.produce_households(homes)
    with fresh_database(postgres_url) as db:
        env = {
            **sharing.app_env(app),
            "CIVICBUS_SINK_APP": app,
            "CIVICBUS_SINK_VIEW": VIEW,
            "CIVICBUS_SINK_DATABASE_URL": db.reader_url,
            "CIVICBUS_SINK_BATCH_SIZE": "50",  # many transactions, so kills land between and inside them
        }
        reader = sa.create_engine(db.reader_url)
        topic = f"civicbus.share.{app}.{VIEW}"

        def stored() -> dict[int, int]:
            """The offsets the sink committed with its rows (none before its first batch)."""
            with reader.connect() as conn:
                try:
                    found = conn.execute(
                        sa.text("SELECT partition, next_offset FROM civicbus_sink_offsets WHERE topic = :t"),
                        {"t": topic},
                    )
                except sa.exc.ProgrammingError:
                    return {}
                return {int(p): int(o) for p, o in found}

        def beyond(done: int) -> Callable[[], bool]:
            return lambda: sum(stored().values()) > done

        for kill in range(KILLS):
            if kill:  # every run has changes to apply: a kill always lands while there is work
                changed = [
                    household(f"{prefix}{n:04d}") | {"member_count": 1 + kill} for n in range(kill, 3000, 10)
                ]
                sharing.produce_households(changed)
            done = sum(stored().values())
            sink = spawn(["sink", "postgres"], env, tmp_path / f"sink-{kill}.log")
            wait_until(beyond(done), 180, f"the sink's progress before kill {kill + 1}")
            assert stop(sink, signal.SIGKILL) == -signal.SIGKILL
        sink = spawn(["sink", "postgres"], env, tmp_path / "sink-final.log")
        try:

            def caught_up() -> tuple[dict[str, int], dict[int, int]] | None:
                """The topic as it is, once the sink's stored offsets are at its end."""
                last, ends = keyed(sharing, topic)
                return (last, ends) if stored() == ends else None

            last, _ = wait_until(caught_up, 300, "the sink's offsets reaching the topic's end", interval=1)
        finally:
            assert stop(sink) == 0
        with reader.connect() as conn:
            table = {
                key: (offset, members)
                for key, offset, members in conn.execute(
                    sa.text("SELECT key, _offset, member_count FROM household WHERE key LIKE :p"),
                    {"p": f"{prefix}%"},
                )
            }
        reader.dispose()
    assert len(table) == len(homes)
    for home in homes:
        key = home["household_id"]
        offset, _ = table[key]
        assert offset == last[key], (key, offset, last[key])  # the latest record: none replayed over it
    assert any(members > 1 for _, members in table.values())


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that fails on purpose, for the test's own households (``prefix``; the
    app's topic has every other test's too): every third delivery's first two tries get a 500,
    every fifth's first try a 429, and one household is refused with a 400."""

    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy
    secret = b""
    refused = ""
    prefix = "-"
    delivered: ClassVar[dict[str, dict[str, Any]]] = {}
    tries: ClassVar[dict[str, int]] = {}
    bad_signatures = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        delivery = self.headers["X-Civicbus-Delivery"]
        cls = type(self)
        with cls.lock:
            if not hmac.compare_digest(self.headers["X-Civicbus-Signature"], signature(cls.secret, body)):
                cls.bad_signatures += 1
                self._answer(401)
                return
            tries = cls.tries[delivery] = cls.tries.get(delivery, 0) + 1
            offset = int(delivery.rsplit("/", 1)[1])
            record = json.loads(body)
            ours = str(record["key"]).startswith(cls.prefix)
            if record["key"] == cls.refused:
                self._answer(400)
            elif ours and offset % 3 == 0 and tries <= 2:
                self._answer(500)
            elif ours and offset % 5 == 0 and tries == 1:
                self._answer(429)
            else:
                cls.delivered[delivery] = record
                self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("TestReceiver", (Receiver,), {"delivered": {}, "tries": {}, "secret": b"hook-secret-1234"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()


def test_the_webhook_sink_delivers_through_failures_and_dead_letters_a_refused_record(
    sharing: Sharing, receiver: tuple[str, type[Receiver]], tmp_path: Path
) -> None:
    url, handler = receiver
    app = unique("hook").lower()
    sharing.grant(app)
    sharing.wait_audit("projection.started", app)
    prefix = f"K{unique('')[-6:]}"
    homes = [household(f"{prefix}{n:04d}") for n in range(150)]
    handler.refused = homes[7]["household_id"]
    handler.prefix = prefix
    sharing.produce_households(homes)
    env = {
        **sharing.app_env(app),
        "CIVICBUS_SINK_APP": app,
        "CIVICBUS_SINK_VIEW": VIEW,
        "CIVICBUS_SINK_URL": url,
        "CIVICBUS_SINK_SECRET": handler.secret.decode(),
        "CIVICBUS_SINK_ATTEMPTS": "4",
        "CIVICBUS_SINK_FIRST_RETRY_S": "0.05",
        "CIVICBUS_SINK_RATE_PER_S": "2000",
    }
    wanted = {h["household_id"] for h in homes} - {handler.refused}

    def keys() -> set[str]:
        with handler.lock:
            return {r["key"] for r in handler.delivered.values()}

    sink = spawn(["sink", "webhook"], env, tmp_path / "webhook-1.log")
    try:
        wait_until(lambda: len(keys() & wanted) >= 30, 240, "the first deliveries")
    finally:
        assert stop(sink, signal.SIGKILL) == -signal.SIGKILL  # a crash mid-stream: at least once, none lost
    sink = spawn(["sink", "webhook"], env, tmp_path / "webhook-2.log")
    try:
        wait_until(lambda: wanted <= keys(), 300, f"{len(wanted)} deliveries")
        letters = read_topic(
            sharing.bootstrap, f"civicbus.share.{app}.deadletters", 1, login=sharing.civicbus
        )
    finally:
        assert stop(sink) == 0
    assert handler.bad_signatures == 0
    (letter,) = [json.loads(r.value or b"") for r in letters]
    assert letter["origin_kind"] == "sink" and "HTTP 400" in letter["reason"]
    assert json.loads(base64.b64decode(letter["payload"]))["key"] == handler.refused
    assert handler.refused not in keys()
    retried = [d for d, n in handler.tries.items() if n > 1 and d in handler.delivered]
    assert retried  # the failures happened and were retried through
