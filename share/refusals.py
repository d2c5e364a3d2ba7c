"""Refused accesses, read from the broker's authorizer log, as audit events.

Kafka's StandardAuthorizer logs every request it denies on the ``kafka.authorizer.logger`` logger;
the local broker writes that logger to ``logs/kafka-authorizer.log`` (ops/kafka/log4j2.properties)
one line per denial::

    [2026-11-28T10:43:31,207] INFO Principal = User:app-a is Denied operation = DESCRIBE from host
    = 127.0.0.1 on resource = Topic:LITERAL:civicbus.x for request = Metadata with
    resourceRefCount = 1 based on rule DefaultDeny

:class:`RefusalLog` reads the lines appended since its last call, from the byte offset it kept in
its position file (saved by :meth:`RefusalLog.commit` once they are on the audit topic), so a
restarted service skips no refusal; a log that was
rotated (shorter than the offset) is read from its start. A client retrying the same denied
request makes the same line many times a second: lines with the same principal, operation and
resource within one read become one event with a ``count``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from .audit import AuditEvent

LINE = re.compile(
    r"^\[(?P<at>[^\]]+)\] \w+ Principal = (?P<principal>\S+) is Denied operation = (?P<op>\S+) "
    r"from host = (?P<host>\S+) on resource = (?P<restype>[^:]+):(?P<pattern>[^:]+):(?P<name>\S+) "
    r"for request = (?P<request>\S+)"
)


def parse(line: str) -> AuditEvent | None:
    """The refusal a log line records, or None for any other line."""
    m = LINE.match(line)
    if m is None:
        return None
    principal = m["principal"].removeprefix("User:")
    stamp = m["at"].replace(",", ".").replace("T", " ")  # civicbus's pattern, or Kafka's default one
    at = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
    return AuditEvent(
        at=at,
        kind="access.refused",
        app=principal,
        who=m["principal"],
        what=f"{m['op']} {m['restype'].lower()} {m['name']}",
        why="no ACL allows it (the app has no grant for this)",
        details={"host": m["host"], "request": m["request"], "count": 1},
    )


class RefusalLog:
    """The refusals in ``log`` not yet read, remembering the offset in ``position``."""

    def __init__(self, log: Path, position: Path) -> None:
        self.log = log
        self.position = position
        self._pending: int | None = None

    def read(self) -> list[AuditEvent]:
        """New refusals (same principal, operation and resource folded into one, counted)."""
        try:
            size = self.log.stat().st_size
        except FileNotFoundError:
            return []
        offset = self._offset()
        if size < offset:
            offset = 0
        with self.log.open("rb") as f:
            f.seek(offset)
            data = f.read(size - offset)
        complete = data.rfind(b"\n") + 1  # a line still being written is read next time
        events: dict[tuple[str, str], AuditEvent] = {}
        for line in data[:complete].decode("utf-8", errors="replace").splitlines():
            event = parse(line)
            if event is None:
                continue
            held = events.get((event.who, event.what))
            if held is None:
                events[(event.who, event.what)] = event
            else:
                held.details["count"] += 1
        self._pending = offset + complete
        return list(events.values())

    def commit(self) -> None:
        """Call once the events of the last :meth:`read` are on the audit topic: they are not
        read again (a crash before it reads them again: an audit event twice, never none)."""
        if self._pending is not None:
            self._save(self._pending)
            self._pending = None

    def _offset(self) -> int:
        try:
            return int(self.position.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def _save(self, offset: int) -> None:
        self.position.parent.mkdir(parents=True, exist_ok=True)
        self.position.write_text(str(offset))
