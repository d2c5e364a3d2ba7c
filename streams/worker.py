"""Run the streams worker process until SIGTERM/SIGINT.

Start-up, in order: serve /metrics, create every view's source, view, changelog and dead-letter
topics (waiting for the broker), register the views' schemas (waiting for the registry), then
run the engine. A signal lets the batch in hand commit; the worker then leaves its group, so the
others take its partitions over at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import structlog

from civicbus.core.backoff import Stopped, retry
from civicbus.core.kafka import ensure_topic
from civicbus.ops import metrics
from civicbus.schemas import wire_raw
from civicbus.schemas.registry_client import RegistryClient
from civicbus.schemas.registry_errors import RegistryError

from .codec import AvroCodec
from .engine import changelog, rekey
from .engine.batch import Codec
from .engine.loop import Engine
from .settings import StreamsSettings
from .views.spec import ViewSpec

log = structlog.get_logger(__name__)


def create_topics(settings: StreamsSettings, specs: list[ViewSpec], stop: threading.Event) -> None:
    """Every source, repartition, view, changelog and dead-letter topic, created if missing
    (waiting for the broker)."""
    bootstrap, n = settings.bootstrap_servers, settings.partitions
    app = settings.app_id
    for spec in specs:
        for index, source in enumerate(spec.sources):
            ensure_topic(bootstrap, source.topic, n, stop=stop)
            if source.rekeyed:
                ensure_topic(bootstrap, rekey.topic(app, spec.name, index), n, stop=stop)
        for store in rekey.stores(spec):
            ensure_topic(bootstrap, rekey.changelog(app, store), n, compacted=True, stop=stop)
        ensure_topic(bootstrap, spec.topic, n, compacted=True, stop=stop)
        ensure_topic(bootstrap, changelog.topic(settings.app_id, spec.name), n, compacted=True, stop=stop)
        ensure_topic(bootstrap, spec.dead_letter_topic, 1, stop=stop)


class _Away(Exception):
    """The registry did not answer (5xxxx); a refusal (4xxxx) ends the worker with its reason."""


def _registering(codec: AvroCodec) -> Callable[[], None]:
    def register() -> None:
        try:
            codec.register()
        except RegistryError as exc:
            if exc.code >= 50000:
                raise _Away(exc.message) from exc
            raise

    return register


def run(settings: StreamsSettings, specs: list[ViewSpec]) -> None:
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("streams.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics.serve(settings.metrics_port, settings.metrics_addr)
    registry = RegistryClient(settings.registry_url, timeout_s=5.0)
    codecs: dict[str, Codec] = {}
    try:
        create_topics(settings, specs, stop)
        for spec in specs:
            codec = AvroCodec(registry, spec)
            retry(_registering(codec), f"registering the {spec.name} view's schemas", (_Away,), stop)
            codecs[spec.name] = codec
    except Stopped:
        return
    log.info("streams.views", views=[s.name for s in specs], avro=wire_raw.DEFAULT)
    Engine(settings, specs, codecs, stop).run()
    log.info("streams.stopped")
