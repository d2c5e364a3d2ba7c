"""The standard suite every connector type must pass, on the real broker and registry.

A connector type joins by giving a :class:`Harness`: how to make a connector file for a fresh
source, and how to add rows to it. tests/integration/test_connector_suite.py runs the suite for
each built-in type; a package with its own type runs the same functions with its harness.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civicbus.core.deadletter import DeadLetter
from civicbus.schemas import model

from .helpers import alive, child_pids, decoder, read_topic, spawn, stop, wait_until


@dataclass
class Harness:
    """A connector of one type on a fresh, empty source."""

    path: Path  # the connector file
    cfg: dict[str, Any]  # its content
    add_rows: Callable[[int], None]  # add n new valid source rows
    source_key: Callable[[dict[str, Any]], str]  # an event's source key, as a comparable string
    outage: Callable[[], AbstractContextManager[None]]  # the source is unreachable inside the block
    add_bad: Callable[[], Callable[[DeadLetter], bool]]  # add malformed input; tells its dead letter


def _run(h: Harness, env: dict[str, str], log: Path) -> Any:
    return spawn(["connectors", "run", str(h.path)], env, log)


def _events(h: Harness, bootstrap: str, registry_url: str, count: int) -> list[dict[str, Any]]:
    decode = decoder(registry_url)
    records = read_topic(bootstrap, h.cfg["target"]["topic"], count, timeout=60, settle=1.0)
    return [decode(r.value) | {"_key": decode(r.key)} for r in records]


def schema_is_canonical_and_records_keyed(
    h: Harness, env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    from civicbus.schemas.registry_client import RegistryClient

    h.add_rows(5)
    proc = _run(h, env, logs / "suite-schema.log")
    try:
        events = _events(h, bootstrap, registry_url, 5)
    finally:
        stop(proc)
    registered = json.loads(
        RegistryClient(registry_url).latest(f"{h.cfg['target']['topic']}-value")["schema"]
    )
    assert registered == json.loads(json.dumps(model.envelope(h.cfg["target"]["schema"])))
    key_field = h.cfg["target"]["key"]
    assert all(e["_key"] == e["after"][key_field] for e in events)


def restart_resumes_without_loss_or_repeat(
    h: Harness, env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    h.add_rows(7)
    proc = _run(h, env, logs / "suite-r1.log")
    try:
        _events(h, bootstrap, registry_url, 7)
    finally:
        assert stop(proc) == 0  # a clean stop saves its position
    h.add_rows(4)
    proc = _run(h, env, logs / "suite-r2.log")
    try:
        events = _events(h, bootstrap, registry_url, 11)
    finally:
        stop(proc)
    keys = Counter(h.source_key(e) for e in events)
    assert len(keys) == 11 and max(keys.values()) == 1, keys


def position_only_after_delivery_survives_sigkill(
    h: Harness, env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    h.add_rows(3000)
    env = {**env, "CIVICBUS_CONNECTOR_ENCODE_SPLIT_ROWS": "50"}  # an encode worker shares each batch
    proc = _run(h, env, logs / "suite-k1.log")
    try:
        read_topic(bootstrap, h.cfg["target"]["topic"], 200, timeout=60)
        workers: list[int] = []
        wait_until(
            lambda: bool(workers.extend(child_pids(proc, b"encode_worker")) or workers), 60, "a worker"
        )
    finally:
        stop(proc, signal.SIGKILL)
    wait_until(lambda: not alive(workers[0]), 60, "the killed connector's encode worker to exit")
    proc = _run(h, env, logs / "suite-k2.log")
    try:
        events = _events(h, bootstrap, registry_url, 3000)
    finally:
        stop(proc)
    keys = Counter(h.source_key(e) for e in events)
    assert len(keys) == 3000, "a row was lost"
    assert max(keys.values()) == 1, f"rows repeated: {[k for k, n in keys.items() if n > 1][:10]}"


def outage_is_retried(h: Harness, env: dict[str, str], bootstrap: str, registry_url: str, logs: Path) -> None:
    h.add_rows(3)
    log = logs / "suite-outage.log"
    proc = _run(h, env, log)
    try:
        _events(h, bootstrap, registry_url, 3)
        with h.outage():
            wait_until(lambda: "source.read_failed" in log.read_text(), 120, "the outage noticed and retried")
            assert proc.poll() is None, "the connector must wait an outage out, not exit"
        h.add_rows(4)
        events = _events(h, bootstrap, registry_url, 7)
        assert proc.poll() is None
    finally:
        stop(proc)
    keys = Counter(h.source_key(e) for e in events)
    assert len(keys) == 7 and max(keys.values()) == 1, keys


def malformed_input_is_dead_lettered_and_the_connector_keeps_going(
    h: Harness, env: dict[str, str], bootstrap: str, registry_url: str, logs: Path
) -> None:
    h.add_rows(2)
    is_ours = h.add_bad()
    h.add_rows(3)
    proc = _run(h, env, logs / "suite-bad.log")
    try:
        events = _events(h, bootstrap, registry_url, 5)
        dead = read_topic(bootstrap, f"civicbus.deadletter.{h.cfg['name']}", 1, timeout=60)
        assert proc.poll() is None
    finally:
        stop(proc)
    letters = [DeadLetter.decode(r.value) for r in dead]
    assert len(letters) == 1 and is_ours(letters[0]), letters
    assert letters[0].origin == h.cfg["name"] and letters[0].reason
    assert len({h.source_key(e) for e in events}) == 5
