"""Assemble a running connector: its plan, Kafka-backed parts, and the engine.

:func:`run` is what ``civicbus connectors run`` does for each file: wait for the broker and the
registry (with the one backoff, ending at once on ``stop``), create the connector's topics,
register its key and value schemas (an incompatible schema stops it before any row is read),
then hand every part to the engine and run it until ``stop``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import structlog
from confluent_kafka import Producer

from civicbus.core.backoff import Stopped, retry
from civicbus.core.kafka import ensure_topic, producer, read_to_end
from civicbus.schemas import model
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.registry_errors import RegistryError
from civicbus.schemas.wire import AvroDecoder, SubjectEncoder

from .config import ConnectorSettings
from .deadletter import DeadLetters
from .delivery import DeliveryFailed
from .encode_pool import EncodePool
from .events import Events, EventSpec
from .kafka_delivery import KafkaDelivery
from .mapping import Rule
from .parts import Parts
from .plan import Plan
from .positions import PositionStore
from .rdkafka_delivery import RdKafkaDelivery
from .rdkafka_delivery import config as rdkafka_config
from .reconcile import Reconciler
from .runner import Connector
from .signals import Signals
from .status import Status, StatusReporter

log = structlog.get_logger(__name__)
Delivery = KafkaDelivery | RdKafkaDelivery


class _RegistryAway(Exception):
    """The registry did not answer, or answered with a server error: worth waiting for."""


def _register(encoder: SubjectEncoder) -> None:
    try:
        encoder.register()
    except RegistryError as exc:
        if exc.code >= 50000:
            raise _RegistryAway(exc.message) from exc
        raise


def _delivery(settings: ConnectorSettings, transactional_id: str | None, stop: threading.Event) -> Delivery:
    """The connector's producer, of the client its settings choose."""
    bootstrap = settings.bootstrap_servers
    if settings.producer == "confluent-kafka":
        return RdKafkaDelivery(
            lambda: Producer(rdkafka_config(bootstrap, transactional_id)),
            stop,
            transactional=bool(transactional_id),
        )
    config: dict[str, object] = {"linger_ms": 5, "batch_size": 256 * 1024, "max_block_ms": 10_000}
    if transactional_id:
        config["transactional_id"] = transactional_id
    return KafkaDelivery(
        lambda: producer(bootstrap, "connector producer", stop, **config),
        stop,
        transactional=bool(transactional_id),
    )


def _events(
    plan: Plan,
    settings: ConnectorSettings,
    key: SubjectEncoder,
    value: SubjectEncoder,
    described: dict[str, str],
) -> Events:
    """The connector's encoding: in its own process, or shared with encode workers."""
    cfg = plan.cfg
    spec = EventSpec(
        rules={name: Rule.of(rule) for name, rule in cfg.mapping.items()},
        entity=model.schema(cfg.target.schema_name),
        zone=cfg.source.zone,
        key_field=cfg.target.key,
        source={**described, "department": cfg.department, "system": cfg.system, "connector": cfg.name},
        key_subject=key.subject,
        key_schema=model.KEY_SCHEMA,
        key_id=key.schema_id,
        value_subject=value.subject,
        value_schema=plan.envelope,
        value_id=value.schema_id,
    )
    if settings.encode_workers == 0:
        return spec.builder()
    return EncodePool(spec, settings.encode_workers, cfg.name, min_split=settings.encode_split_rows)


def assemble(plan: Plan, settings: ConnectorSettings, stop: threading.Event) -> Parts:
    """Kafka-backed parts for ``plan``; raises Stopped if ``stop`` is set while waiting."""
    cfg = plan.cfg
    bootstrap = settings.bootstrap_servers

    exactly_once = settings.delivery == "exactly_once"

    def read(topic: str) -> Iterator[tuple[bytes | None, bytes | None]]:
        return read_to_end(bootstrap, topic, committed_only=exactly_once)

    positions_topic = cfg.positions_topic(settings.positions_topic)
    ensure_topic(bootstrap, cfg.target.topic, cfg.target.partitions, stop=stop)
    ensure_topic(bootstrap, cfg.dead_letter_topic, 1, stop=stop)
    ensure_topic(bootstrap, positions_topic, 1, compacted=True, stop=stop)
    ensure_topic(bootstrap, settings.status_topic, 1, compacted=True, stop=stop)
    registry = RegistryClient(settings.registry_url)
    # registered here; the encoders are built from their IDs (events.EventSpec), here and in workers
    key_enc = SubjectEncoder(registry, f"{cfg.target.topic}-key", model.KEY_SCHEMA)
    value_enc = SubjectEncoder(registry, f"{cfg.target.topic}-value", plan.envelope)
    for encoder in (key_enc, value_enc):
        retry(
            lambda e=encoder: _register(e),  # type: ignore[misc]
            "registry",
            (_RegistryAway,),
            stop,
            event="registry.unavailable",
        )
    client = _delivery(settings, cfg.transactional_id if exactly_once else None, stop)
    # waits for the broker; with transactions, settles what a crashed run left open
    retry(client.producer, "broker", (DeliveryFailed,), stop, event="broker.unavailable")
    status_producer = (
        producer(bootstrap, "connector status producer", stop, linger_ms=50) if exactly_once else client
    )
    source = plan.source()
    described = source.describe()
    reconciler = None
    if cfg.source.reconcile_interval_s:
        ensure_topic(bootstrap, cfg.index_topic, 1, compacted=True, stop=stop)
        reconciler = Reconciler(client, cfg.index_topic, read, cfg.source.reconcile_interval_s)
    return Parts(
        source=source,
        producer=client,
        events=_events(plan, settings, key_enc, value_enc, described),
        positions=PositionStore(client, positions_topic, read),
        status=StatusReporter(
            status_producer, settings.status_topic, Status(cfg.name, topic=cfg.target.topic)
        ),
        dead_letters=DeadLetters(
            client, cfg.dead_letter_topic, cfg.name, {**described, "department": cfg.department}
        ),
        reconciler=reconciler,
        decode=AvroDecoder(registry),
        transactions=client if exactly_once else None,
        signals=Signals(bootstrap, settings.signals_topic, cfg.name),
    )


def run(plan: Plan, settings: ConnectorSettings, stop: threading.Event) -> None:
    """Run ``plan``'s connector until ``stop`` is set; a setting that cannot work raises."""
    try:
        parts = assemble(plan, settings, stop)
    except Stopped as exc:
        log.info("connector.stopped", connector=plan.cfg.name, during_setup=str(exc))
        return
    Connector(plan.cfg.name, plan.cfg.target.topic, parts, plan.pace(settings.max_backoff_s)).run(stop)
