"""Structured JSON logs for every civicbus process.

Call :func:`configure` once at process start. Afterwards ``structlog.get_logger()`` emits one JSON
object per line on stderr with ``timestamp``, ``level``, ``event`` and the bound fields; the
standard-library loggers of kafka-python, aiokafka and librdkafka are routed through the same renderer
so an operator's log pipeline sees one format.
"""

from __future__ import annotations

import logging
import sys

import structlog

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


def configure(level: str = "INFO", component: str | None = None) -> None:
    """Route structlog and stdlib logging to JSON lines on stderr; idempotent."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries log every refused connection at ERROR while a broker is away; civicbus logs
    # those waits itself (kafka.unavailable, with attempt and backoff), once per attempt.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    # librdkafka clients log their errors themselves (kafka.client_error, throttled)
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
    if component:
        structlog.contextvars.bind_contextvars(component=component)
