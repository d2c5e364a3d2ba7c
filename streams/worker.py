"""Run the streams worker process until SIGTERM/SIGINT.

Start-up, in order: serve /metrics, create every view's source, view and dead-letter topics
(waiting for the broker), declare the app, hand each view a codec bound to the registry, register
the views' schemas once the worker runs, then let faust take over.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

import faust
import structlog

from civicbus.core.kafka import ensure_topic
from civicbus.ops import metrics
from civicbus.ops.logging import configure
from civicbus.schemas.registry_client import RegistryClient

from .codec import AvroCodec
from .settings import StreamsSettings
from .views.app import build
from .views.spec import ViewSpec


class _Worker(faust.Worker):
    stop_timeout_s: float = 8.0

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """faust installs its own log format here; put civicbus's JSON lines back."""
        configure(logging.getLevelName(level), "streams")

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        """Stop as faust does, but never take longer than ``stop_timeout_s``.

        With the broker away faust's shutdown waits about a minute on its clients. Ending the
        process then loses nothing: offsets not committed make the events be read again, and the
        fold is idempotent, so they change nothing."""
        super()._schedule_shutdown(signal)
        timer = threading.Timer(self.stop_timeout_s, self._force_exit)
        timer.daemon = True
        timer.start()

    def _force_exit(self) -> None:
        structlog.get_logger(__name__).warning("streams.stop_forced", after_s=self.stop_timeout_s)
        logging.shutdown()
        os._exit(0)


def create_topics(settings: StreamsSettings, specs: list[ViewSpec]) -> None:
    """Every source, view and dead-letter topic, created if missing (waiting for the broker)."""
    bootstrap = settings.bootstrap_servers
    for spec in specs:
        for source in spec.sources:
            ensure_topic(bootstrap, source.topic, settings.partitions)
        ensure_topic(bootstrap, spec.topic, settings.partitions, compacted=True)
        ensure_topic(bootstrap, spec.dead_letter_topic, 1)


def run(settings: StreamsSettings, specs: list[ViewSpec]) -> None:
    metrics.serve(settings.metrics_port, settings.metrics_addr)
    create_topics(settings, specs)
    views = build(settings, specs)
    # a short timeout: a registry call blocks the event loop, and faust's heartbeats with it
    registry = RegistryClient(settings.registry_url, timeout_s=2.0)
    codecs = {spec.name: AvroCodec(registry, spec) for spec in specs}
    views.codecs.update(codecs)

    @views.app.task  # type: ignore[untyped-decorator]
    async def register_schemas() -> None:
        for codec in codecs.values():
            codec.register()

    structlog.get_logger(__name__).info("streams.views", views=[s.name for s in specs])
    worker = _Worker(views.app, loglevel="INFO", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
