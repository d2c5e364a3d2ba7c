"""The streams engine: every view of a worker folded batch by batch, exactly once.

One consumer in the worker group reads every source topic; a source topic and its views' state
changelogs and view topics are co-partitioned (same partition count, same key bytes), and the
range assignor hands a worker the same partition numbers of every topic, so partition ``p`` of
every view is folded on one worker, from its local store (:mod:`.stores`).

Each batch (up to ``batch_size`` messages) is folded per view and partition (:mod:`.batch`), then
written in one Kafka transaction: the view records, the changed states to the changelog, the
dead letters, and the consumer offsets past the batch. A subscriber reading ``read_committed``
thus sees each change once, even across a crash; only after the commit are the states written to
the local stores. Anything that fails a transaction (a fenced or lost producer, a rebalance
mid-commit, the broker away) ends the session: the consumer leaves, the stores close, and a new
session rejoins after a backoff, restoring the stores' changelog tails and reading on from the
committed offsets. While the registry is away, the batch is read again after a backoff; nothing
is dead-lettered for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from confluent_kafka import KafkaException, TopicPartition

from civicbus.core.backoff import Backoff
from civicbus.core.deadletter import DeadLetter
from civicbus.ops import metrics
from civicbus.schemas.registry_errors import RegistryError

from ..settings import StreamsSettings
from ..views.spec import ViewSpec
from . import changelog, rekey
from .batch import MOVED, Codec, Folded, Message, fold_batch
from .clients import Clients
from .rekey import Rekeyed, rekey_batch
from .stores import Store, open_store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Route:
    """What the engine does with a topic's events for one view: fold them, or re-key them."""

    kind: Literal["fold", "rekey"]
    spec: ViewSpec
    index: int


class Restart(Exception):
    """The session cannot go on (a transaction failed, a client is unusable): start a new one."""


class Engine:
    """Runs ``specs`` until ``stop`` is set; one instance per engine process, ``member`` numbering
    the processes of one worker (see :mod:`civicbus.streams.processes`)."""

    def __init__(
        self,
        settings: StreamsSettings,
        specs: list[ViewSpec],
        codecs: dict[str, Codec],
        stop: threading.Event,
        member: int = 0,
    ) -> None:
        self.settings = settings
        self.specs = {spec.name: spec for spec in specs}
        self.codecs = codecs
        self.stop = stop
        app = settings.app_id
        self.routes: dict[str, list[Route]] = {}
        self.changelogs: dict[str, str] = {}  # store name → its changelog topic
        for spec in specs:
            self.changelogs[spec.name] = changelog.topic(app, spec.name)
            for name in rekey.stores(spec):
                self.changelogs[name] = rekey.changelog(app, name)
            for index, source in enumerate(spec.sources):
                if source.rekeyed:
                    self.routes.setdefault(source.topic, []).append(Route("rekey", spec, index))
                    folded_from = rekey.topic(app, spec.name, index)
                else:
                    folded_from = source.topic
                self.routes.setdefault(folded_from, []).append(Route("fold", spec, index))
        self.stores: dict[tuple[str, int], Store] = {}
        self.clients = Clients(settings, member)
        self._restorer: Any = None
        self._broken: Exception | None = None

    # --- sessions ---------------------------------------------------------------------------

    def run(self) -> None:
        """Fold until ``stop`` is set, starting a new session after any failure."""
        waits = Backoff(cap_s=30.0)
        while not self.stop.is_set():
            try:
                self._session()
                return
            except (Restart, KafkaException, RuntimeError) as exc:
                metrics.STREAMS_RESTARTS.inc()
                delay = waits.next_delay()
                log.warning("streams.session_restart", error=str(exc), retry_in_s=delay)
                self.stop.wait(delay)

    def _session(self) -> None:
        s = self.settings
        self._broken = None
        consumer = self.clients.consumer()
        self._restorer = self.clients.restorer()
        producer = self.clients.producer()
        try:
            producer.init_transactions(s.transaction_timeout_s)
            consumer.subscribe(
                sorted(self.routes), on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
            )
            log.info("streams.session_started", transactional_id=self.clients.transactional_id)
            waits = Backoff(cap_s=30.0)
            while not self.stop.is_set():
                msgs = consumer.consume(num_messages=s.batch_size, timeout=0.1)
                if self._broken is not None:  # raised in a rebalance callback, inside consume()
                    raise Restart(f"taking partitions over: {self._broken}")
                if msgs and self._batch(consumer, producer, msgs, waits):
                    waits.reset()
        finally:
            self._close_stores()
            for client in (consumer, self._restorer):
                try:
                    client.close()
                except (KafkaException, RuntimeError) as exc:
                    log.warning("streams.close_failed", error=str(exc))

    # --- partitions ---------------------------------------------------------------------------

    def _assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Open and catch up the stores of the partitions this worker now folds.

        The committed offsets are read first: for a ``read_committed`` consumer the broker answers
        only once no transaction of the previous owner is pending on them, and that transaction
        wrote its changelog records too, so the restore after it reads them."""
        numbers = sorted({tp.partition for tp in partitions})
        try:
            consumer.committed(partitions, timeout=self.settings.transaction_timeout_s * 2)
            for number in numbers:
                for name in self.changelogs:
                    if (name, number) not in self.stores:
                        self.stores[(name, number)] = self._restore(name, number)
        except Exception as exc:  # an exception must not cross librdkafka's callback: end the session
            self._broken = exc
            return
        log.info("streams.assigned", partitions=numbers)

    def _restore(self, name: str, partition: int) -> Store:
        folder = self.settings.data_dir / self.settings.app_id / name / str(partition)
        store = open_store(self.settings.store, folder)
        read = changelog.restore(self._restorer, self.changelogs[name], partition, store)
        metrics.STREAMS_RESTORED.labels(name).inc(read)
        log.info(
            "streams.restored", store=name, partition=partition, records=read, checkpoint=store.checkpoint
        )
        return store

    def _lookup(self, number: int) -> Callable[[str], Callable[[bytes], bytes | None]]:
        return lambda name: self.stores[(name, number)].get

    def _scan(self, number: int) -> Callable[[str, bytes], Iterable[tuple[bytes, bytes]]]:
        return lambda name, prefix: self.stores[(name, number)].scan(prefix)

    def _revoked(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        self._close_stores(numbers)
        log.info("streams.revoked", partitions=sorted(numbers))

    def _close_stores(self, numbers: set[int] | None = None) -> None:
        for where in [w for w in self.stores if numbers is None or w[1] in numbers]:
            self.stores.pop(where).close()

    # --- batches ------------------------------------------------------------------------------

    def _batch(self, consumer: Any, producer: Any, msgs: list[Any], waits: Backoff) -> bool:
        """Fold and commit one batch; False when it is to be read again (the registry is away)."""
        groups: dict[tuple[str, int], list[tuple[int, Message]]] = {}
        moves: dict[tuple[str, int], list[tuple[int, Message]]] = {}
        spans: dict[tuple[str, int], tuple[int, int]] = {}
        counts: dict[tuple[str, str], int] = {}
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise Restart(f"consumer: {err.str()}")
                log.warning("streams.consume_error", error=err.str())
                continue
            topic, number, offset = msg.topic(), msg.partition(), msg.offset()
            first, _ = spans.get((topic, number), (offset, offset))
            spans[(topic, number)] = (first, offset)
            for route in self.routes[topic]:
                name = route.spec.name
                if route.kind == "fold":
                    groups.setdefault((name, number), []).append((route.index, msg))
                else:
                    moves.setdefault((name, number), []).append((route.index, msg))
                counts[(name, topic)] = counts.get((name, topic), 0) + 1
        try:
            results = {
                where: fold_batch(self.specs[where[0]], self.codecs[where[0]], self.stores[where].get, events)
                for where, events in groups.items()
            }
            rekeyed = {
                (view, number): rekey_batch(
                    self.specs[view], self.codecs[view], self._lookup(number), self._scan(number), events
                )
                for (view, number), events in moves.items()
            }
        except RegistryError as exc:  # the registry is away (5xxxx): read the batch again later
            for (topic, number), (first, _) in spans.items():
                consumer.seek(TopicPartition(topic, number, first))
            delay = waits.next_delay()
            for view in {r.spec.name for rs in self.routes.values() for r in rs}:
                metrics.STREAMS_RETRIES.labels(view, "registry").inc()
            log.warning("streams.registry_unavailable", error=exc.message, retry_in_s=delay)
            self.stop.wait(delay)
            return False
        ends = self._commit(consumer, producer, results, rekeyed, spans)
        written: list[tuple[tuple[str, int], Mapping[bytes, bytes | None]]] = [
            *((w, f.states) for w, f in results.items()),
            *(((name, n), states) for (_, n), r in rekeyed.items() for name, states in r.states.items()),
        ]
        for where, states in written:
            if states:
                store = self.stores[where]
                store.write(states, ends.get(where, store.checkpoint))
        for (view, _), folded in results.items():
            metrics.STREAMS_VIEW_UPDATES.labels(view).inc(len(folded.records))
            metrics.STREAMS_DEAD_LETTERS.labels(view).inc(len(folded.letters))
        for (view, _), outcome in rekeyed.items():
            metrics.STREAMS_DEAD_LETTERS.labels(view).inc(len(outcome.letters))
        for (view, topic), n in counts.items():
            metrics.STREAMS_EVENTS.labels(view, topic).inc(n)
        return True

    def _commit(
        self,
        consumer: Any,
        producer: Any,
        results: dict[tuple[str, int], Folded],
        rekeyed: dict[tuple[str, int], Rekeyed],
        spans: dict[tuple[str, int], tuple[int, int]],
    ) -> dict[tuple[str, int], int]:
        """Write a batch's outcome and offsets in one transaction; each changelog partition's next
        offset after it. Raises Restart if the transaction did not commit."""
        ends: dict[tuple[str, int], int] = {}
        failures: list[str] = []

        def delivered(where: tuple[str, int]) -> Callable[[Any, Any], None]:
            def report(err: Any, msg: Any) -> None:
                if err is not None:
                    failures.append(str(err))
                else:
                    ends[where] = max(ends.get(where, 0), msg.offset() + 1)

            return report

        app = self.settings.app_id
        try:
            producer.begin_transaction()
            for (view, number), folded in results.items():
                spec = self.specs[view]
                for key, record in folded.records.items():
                    producer.produce(spec.topic, record, key, partition=number)
                report = delivered((view, number))
                for key, value in folded.states.items():
                    producer.produce(self.changelogs[view], value, key, partition=number, on_delivery=report)
                for msg, reason in folded.letters:
                    self._dead_letter(producer, spec, msg, reason)
                producer.poll(0)
            for (view, number), outcome in rekeyed.items():
                for index, key, value, moved in outcome.sends:
                    producer.produce(
                        rekey.topic(app, view, index), value, key, headers=[(MOVED, b"1")] if moved else None
                    )
                for name, states in outcome.states.items():
                    report = delivered((name, number))
                    for row_key, held in states.items():
                        producer.produce(
                            self.changelogs[name], held, row_key, partition=number, on_delivery=report
                        )
                for msg, reason in outcome.letters:
                    self._dead_letter(producer, self.specs[view], msg, reason)
                producer.poll(0)
            offsets = [TopicPartition(t, p, last + 1) for (t, p), (_, last) in spans.items()]
            producer.send_offsets_to_transaction(
                offsets, consumer.consumer_group_metadata(), self.settings.transaction_timeout_s
            )
            producer.flush(self.settings.transaction_timeout_s)
            if failures:
                raise Restart(f"{len(failures)} records not delivered, e.g. {failures[0]}")
            producer.commit_transaction(self.settings.transaction_timeout_s)
        except (KafkaException, BufferError, Restart) as exc:
            try:
                producer.abort_transaction(self.settings.transaction_timeout_s)
            except KafkaException as abort:
                log.warning("streams.abort_failed", error=str(abort))
            metrics.STREAMS_ABORTED.inc()
            raise Restart(f"transaction aborted: {exc}") from exc
        return ends

    def _dead_letter(self, producer: Any, spec: ViewSpec, msg: Message, reason: str) -> None:
        letter = DeadLetter.of_record(spec.name, msg, "(event)", reason)
        log.warning("streams.dead_letter", view=spec.name, reason=reason, **letter.source)
        k, v, headers = letter.encode()
        producer.produce(spec.dead_letter_topic, v, k, headers=headers)
