"""Run the streams worker process until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

import faust

from ops import metrics
from ops.logging import configure

from .resident_view import build
from .settings import StreamsSettings


class _Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """faust installs its own log format here; put civicbus's JSON lines back."""
        configure(logging.getLevelName(level), "streams")


def run(settings: StreamsSettings) -> None:
    metrics.serve(settings.metrics_port, settings.metrics_addr)
    app = build(settings)
    worker = _Worker(app, loglevel="INFO", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
