"""Run the registry process: load the store from Kafka, then serve HTTP until SIGTERM/SIGINT."""

from __future__ import annotations

import structlog
from aiohttp import web

from .log import KafkaLog
from .server import build_app
from .settings import RegistrySettings
from .store import SchemaStore

log = structlog.get_logger(__name__)


def serve(settings: RegistrySettings) -> None:
    store = SchemaStore(KafkaLog(settings.bootstrap_servers, settings.topic), settings.compatibility)
    store.load()
    log.info("registry.serving", url=f"http://{settings.host}:{settings.port}", topic=settings.topic)
    try:
        web.run_app(build_app(store), host=settings.host, port=settings.port, print=None, access_log=None)
    finally:
        store.close()
