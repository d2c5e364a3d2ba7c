"""One logical replication session: pgoutput messages of one slot and publication, from an LSN.

psycopg2 is the driver here because it speaks the replication protocol (psycopg 3, used
everywhere else, does not yet: psycopg/psycopg#71). Every error it raises is psycopg2.Error; the
source turns them into SourceUnavailable.
"""

from __future__ import annotations

import contextlib
import select

import psycopg2
import psycopg2.extras

PROTOCOL = {"proto_version": "1"}


class Replication:
    """A started replication stream. Not thread-safe: one source's thread uses it."""

    def __init__(self, dsn: str, slot: str, publication: str, start_lsn: int) -> None:
        self._conn = psycopg2.connect(dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
        try:
            self._cur = self._conn.cursor()
            self._cur.start_replication(
                slot_name=slot,
                decode=False,
                start_lsn=start_lsn,
                status_interval=10,
                options={**PROTOCOL, "publication_names": publication},
            )
        except BaseException:
            self._conn.close()
            raise

    def message(self, timeout_s: float) -> tuple[int, bytes] | None:
        """The next message's (LSN, payload), waiting up to ``timeout_s``; None if none came."""
        msg = self._cur.read_message()
        if msg is None and timeout_s > 0:
            select.select([self._cur], [], [], timeout_s)
            msg = self._cur.read_message()
        return None if msg is None else (int(msg.data_start), bytes(msg.payload))

    @property
    def wal_end(self) -> int:
        """How far the server has decoded, as of its last message or keepalive: every
        transaction of the publication committed before it has been received."""
        return int(self._cur.wal_end or 0)

    def confirm(self, lsn: int) -> None:
        """Tell the server everything before ``lsn`` is safe: the slot may release that WAL."""
        self._cur.send_feedback(flush_lsn=lsn, force=True)  # type: ignore[no-untyped-call]

    def ask_position(self) -> None:
        """Ask for a keepalive now, so :attr:`wal_end` is fresh."""
        self._cur.send_feedback(reply=True)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self._conn.close()
