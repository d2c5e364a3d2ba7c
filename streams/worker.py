"""Run the streams worker process until SIGTERM/SIGINT.

Start-up, in order: serve /metrics, create every view's source, view, changelog and dead-letter
topics (waiting for the broker), register the views' schemas (waiting for the registry), then
run the engine, in this process or in ``processes`` engine processes (:mod:`.processes`). A
signal lets the batch in hand commit; the worker then leaves its group, so the others take its
partitions over at once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from civicbus.core.backoff import Stopped
from civicbus.core.kafka import ensure_topic
from civicbus.core.signals import stop_on_signals
from civicbus.ops import metrics
from civicbus.schemas import wire_raw

from .codec import registered
from .engine import changelog, rekey
from .engine.loop import Engine
from .processes import ProcessGroup
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


def run(settings: StreamsSettings, specs: list[ViewSpec]) -> None:
    stop = threading.Event()
    stop_on_signals(stop, "streams.stopping")
    with _metrics(settings):
        try:
            create_topics(settings, specs, stop)
            codecs = registered(settings, specs, stop)
        except Stopped:
            return
        log.info(
            "streams.views",
            views=[s.name for s in specs],
            avro=wire_raw.DEFAULT,
            processes=settings.processes,
        )
        if settings.processes > settings.partitions:
            log.warning(
                "streams.idle_processes", processes=settings.processes, partitions=settings.partitions
            )
        if settings.processes == 1:
            Engine(settings, specs, codecs, stop).run()
        else:
            ProcessGroup(settings, specs, stop).run()
    log.info("streams.stopped")


@contextmanager
def _metrics(settings: StreamsSettings) -> Iterator[None]:
    """Serve /metrics: this process's, or the sum over its engine processes, which write theirs
    to a folder of their own (prometheus-client's multiprocess mode) removed afterwards."""
    if settings.processes == 1:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
        yield
        return
    folder = tempfile.mkdtemp(prefix="civicbus-streams-metrics-")
    os.environ[metrics.MULTIPROCESS_DIR] = folder  # the children inherit it; this process is already set up
    try:
        metrics.serve_processes(settings.metrics_port, settings.metrics_addr, folder, "civicbus_streams_")
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)
