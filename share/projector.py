"""Runs one app's projections: view records in, the app's own topics out, exactly once.

One :class:`Projector` per app in force, on its own thread (:mod:`.service` starts and stops
them). It reads the app's granted view topics ``read_committed`` in a consumer group named after
the app and the grant's digest, so a grant that changes projects every view again from its
start (a compacted view topic holds each key's latest record), while a restart goes on from the
committed offsets. Each batch is written in one Kafka transaction with its offsets, as the
streams engine does, so the app's topic has each view change once, even across a crash. A
record it cannot decode or project goes to ``civicbus.share.deadletters`` with the reason; the
projection goes on.

Stop contract: :meth:`stop` lets the batch in hand commit, then the thread leaves its group and
ends; :meth:`join` waits for it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from civicbus.core import identity
from civicbus.core.backoff import Backoff
from civicbus.core.deadletter import DeadLetter
from civicbus.ops import metrics
from civicbus.schemas import model
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.registry_errors import RegistryError
from civicbus.schemas.wire_raw import RawDecoder, RawEncoder

from .projection import Projection
from .settings import ShareSettings

log = structlog.get_logger(__name__)
DEAD_LETTERS = "civicbus.share.deadletters"
_LIBRDKAFKA = logging.getLogger("librdkafka")


class _Restart(Exception):
    """The session cannot go on (a transaction failed): start a new one."""


class Projector:
    """Projects ``projections`` (one app's, keyed by view topic) under the grant ``digest``."""

    def __init__(
        self, settings: ShareSettings, app: str, digest: str, projections: dict[str, Projection]
    ) -> None:
        self.settings = settings
        self.app = app
        self.digest = digest
        self.projections = projections
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"share-{app}", daemon=True)
        registry = RegistryClient(settings.registry_url)
        self._decode = RawDecoder(registry)
        self._keys = {
            p.topic: RawEncoder(registry, f"{p.topic}-key", model.KEY_SCHEMA) for p in projections.values()
        }
        self._values = {
            p.topic: RawEncoder(registry, f"{p.topic}-value", p.schema) for p in projections.values()
        }

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    def _config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.settings.bootstrap_servers,
            "logger": _LIBRDKAFKA,
            "reconnect.backoff.ms": 500,
            "reconnect.backoff.max.ms": 10_000,
            **identity.current().librdkafka(),
        }

    def _run(self) -> None:
        waits = Backoff(cap_s=30.0)
        while not self._stop.is_set():
            try:
                self._session()
                return
            except (_Restart, KafkaException, RuntimeError, RegistryError) as exc:
                metrics.SHARE_RESTARTS.labels(self.app).inc()
                delay = waits.next_delay()
                log.warning("share.session_restart", app=self.app, error=str(exc), retry_in_s=delay)
                self._stop.wait(delay)

    def _session(self) -> None:
        s = self.settings
        consumer = Consumer(
            {
                **self._config(),
                "group.id": f"civicbus.share.{self.app}.{self.digest[:12]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        producer = Producer(
            {
                **self._config(),
                "transactional.id": f"civicbus.share.{self.app}",
                "transaction.timeout.ms": int(s.transaction_timeout_s * 1000),
                "linger.ms": 5,
            }
        )
        try:
            for encoder in (*self._keys.values(), *self._values.values()):
                encoder.register()
            producer.init_transactions(s.transaction_timeout_s)
            consumer.subscribe(sorted(self.projections))
            log.info(
                "share.projection_started",
                app=self.app,
                views=sorted(p.view for p in self.projections.values()),
            )
            while not self._stop.is_set():
                msgs = consumer.consume(num_messages=s.batch_size, timeout=0.2)
                if msgs:
                    self._batch(consumer, producer, msgs)
        finally:
            consumer.close()
            producer.flush(5)
            log.info("share.projection_stopped", app=self.app)

    def _batch(self, consumer: Any, producer: Any, msgs: list[Any]) -> None:
        s = self.settings
        last: dict[tuple[str, int], int] = {}
        counts: dict[str, int] = {}
        try:
            producer.begin_transaction()
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.fatal():
                        raise _Restart(f"consumer: {err.str()}")
                    continue
                last[(msg.topic(), msg.partition())] = msg.offset()
                projection = self.projections[msg.topic()]
                try:
                    key, value = self._project(projection, msg)
                except Exception as exc:
                    self._dead_letter(producer, msg, f"{type(exc).__name__}: {exc}")
                    continue
                producer.produce(projection.topic, value, key, partition=msg.partition())
                counts[projection.view] = counts.get(projection.view, 0) + 1
                producer.poll(0)
            offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
            producer.send_offsets_to_transaction(
                offsets, consumer.consumer_group_metadata(), s.transaction_timeout_s
            )
            producer.commit_transaction(s.transaction_timeout_s)
        except (KafkaException, BufferError, _Restart) as exc:
            try:
                producer.abort_transaction(s.transaction_timeout_s)
            except KafkaException as abort:
                log.warning("share.abort_failed", app=self.app, error=str(abort))
            raise _Restart(f"transaction aborted: {exc}") from exc
        for view, n in counts.items():
            metrics.SHARE_RECORDS.labels(self.app, view).inc(n)

    def _project(self, projection: Projection, msg: Any) -> tuple[bytes, bytes | None]:
        view_key = self._decode(msg.key())
        if not isinstance(view_key, str):
            raise ValueError(f"a view key is a string, got {type(view_key).__name__}")
        key = self._keys[projection.topic](projection.key(view_key))
        if msg.value() is None:
            return key, None
        record = self._decode(msg.value())
        if not isinstance(record, dict):
            raise ValueError(f"a view record is a record, got {type(record).__name__}")
        return key, self._values[projection.topic](projection.record(record))

    def _dead_letter(self, producer: Any, msg: Any, reason: str) -> None:
        letter = DeadLetter.of_record(f"share:{self.app}", msg, "(record)", reason)
        log.warning("share.dead_letter", app=self.app, reason=reason, **letter.source)
        metrics.SHARE_DEAD_LETTERS.labels(self.app).inc()
        k, v, headers = letter.encode()
        producer.produce(DEAD_LETTERS, v, k, headers=headers)
