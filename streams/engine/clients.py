"""The engine's three librdkafka clients, configured for exactly-once folding, and their errors.

Called once per session (:class:`~.loop.Engine`): the group consumer reading the sources, the
restorer reading changelogs by assignment, and the transactional producer. All three share the
error log and the reconnect backoff, so a broker that is away costs little CPU and few log lines.
"""

from __future__ import annotations

import socket
import zlib
from typing import Any

import structlog
from confluent_kafka import Consumer, Producer

from civicbus.core import identity
from civicbus.core.rdkafka import LIBRDKAFKA_LOG, ErrorLog

from ..settings import StreamsSettings

log = structlog.get_logger(__name__)
_PREFETCH_KB = 16 * 1024
"""Messages a consumer fetches ahead, at most (librdkafka's default, 64 MB, doubles a busy worker's RSS)."""


def instance_id(settings: StreamsSettings) -> str:
    """This worker's stable name in the group: the same after a restart on the same data folder,
    so its transactional id fences (and aborts) what its previous run left open."""
    folder = str(settings.data_dir.resolve())
    return f"{socket.gethostname()}-{zlib.crc32(folder.encode()):08x}"


class Clients:
    """Makes the clients of one engine process (``member`` of its worker); ``transactional_id``
    names it in the group, the same for the same member of a worker on the same data folder."""

    def __init__(self, settings: StreamsSettings, member: int = 0) -> None:
        self.settings = settings
        suffix = f"-{member}" if member else ""
        self.transactional_id = f"{settings.app_id}-{instance_id(settings)}{suffix}"
        self._common: dict[str, Any] = {
            "bootstrap.servers": settings.bootstrap_servers,
            "error_cb": ErrorLog(),
            "logger": LIBRDKAFKA_LOG,
            "log.connection.close": False,
            # a broker that is away is retried from 0.5 s up to every 10 s, not every 100 ms
            "reconnect.backoff.ms": 500,
            "reconnect.backoff.max.ms": 10_000,
            **identity.current().librdkafka(),
        }

    def consumer(self) -> Any:
        """The group member reading every source topic, ``read_committed``, committing nothing itself."""
        s = self.settings
        return Consumer(
            {
                **self._common,
                "group.id": s.app_id,
                "client.id": self.transactional_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "range",
                "session.timeout.ms": int(s.session_timeout_s * 1000),
                # a member learns of a rebalance (a process or worker joining) at its next heartbeat
                "heartbeat.interval.ms": int(min(s.session_timeout_s / 3, 1.0) * 1000),
                "max.poll.interval.ms": int(s.max_poll_interval_s * 1000),
                "queued.max.messages.kbytes": _PREFETCH_KB,
            }
        )

    def restorer(self) -> Any:
        """A consumer for changelogs, by assignment only, reporting each partition's end."""
        return Consumer(
            {
                **self._common,
                "group.id": f"{self.settings.app_id}-restore",  # never joined nor committed
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                # the end of a partition shows only in a fetch that finds nothing new, which the
                # broker holds back this long (500 ms by default) for every partition restored
                "fetch.wait.max.ms": 20,
                "queued.max.messages.kbytes": _PREFETCH_KB,
            }
        )

    def producer(self) -> Any:
        """The transactional producer (its transactions are not yet initialised)."""
        return Producer(
            {
                **self._common,
                "transactional.id": self.transactional_id,
                "transaction.timeout.ms": int(self.settings.transaction_timeout_s * 1000),
                "linger.ms": 5,
                "partitioner": "murmur2_random",  # Kafka's own: the same partition as the connectors'
            }
        )
