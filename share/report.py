"""The monthly sharing report per app, in Markdown, for the data office.

For a month and an app: the grant in force (its fields, approval document, expiry) as the audit
topic last announced it, the grant's events of the month, the records delivered on each of the
app's topics (offsets written within the month, which compaction does not change), and the
accesses the broker refused the app's principal.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

from confluent_kafka import Consumer, TopicPartition

from civicbus.core import identity

from .audit import AuditEvent
from .projection import topic


def month_range(month: str) -> tuple[dt.datetime, dt.datetime]:
    """``2026-11`` → its first instant and the next month's (UTC)."""
    start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
    after = (start + dt.timedelta(days=32)).replace(day=1)
    return start, after


def delivered(bootstrap: str, topics: Iterable[str], start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """Records written to each topic from ``start`` to ``end`` (by offsets for those times)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "civicbus-report", **identity.current().librdkafka()}
    )
    counts: dict[str, int] = {}
    try:
        for name in topics:
            meta = consumer.list_topics(name, timeout=30).topics.get(name)
            if meta is None or meta.error is not None:
                counts[name] = 0
                continue
            total = 0
            for p in meta.partitions:
                bounds = []
                for at in (start, end):
                    found = consumer.offsets_for_times(
                        [TopicPartition(name, p, int(at.timestamp() * 1000))], 30
                    )
                    offset = found[0].offset
                    bounds.append(
                        offset
                        if offset >= 0
                        else consumer.get_watermark_offsets(TopicPartition(name, p), 30)[1]
                    )
                total += bounds[1] - bounds[0]
            counts[name] = total
    finally:
        consumer.close()
    return counts


def markdown(app: str, month: str, events: list[AuditEvent], records: dict[str, int]) -> str:
    """The report; ``events`` are the app's audit events up to the month's end."""
    start, end = month_range(month)
    grant = next(
        (e for e in reversed(events) if e.kind.startswith("grant.") and e.kind != "grant.invalid"), None
    )
    of_month = [e for e in events if start <= e.at < end]
    refused = Counter(e.what for e in of_month if e.kind == "access.refused")
    refusals = {
        what: sum(int(e.details.get("count", 1)) for e in of_month if e.what == what) for what in refused
    }
    lines = [f"# Data shared with {app} — {month}", ""]
    if grant is None or grant.kind in ("grant.withdrawn", "grant.expired"):
        lines += [
            "No grant in force at the month's end" + (f" ({grant.kind}: {grant.why})." if grant else "."),
            "",
        ]
    else:
        lines += [
            f"Grant in force: approved by {grant.who}, document {grant.details.get('document') or '—'}, "
            f"until {grant.details.get('expires')}. Purpose: {grant.why}.",
            "",
            "| view | fields shared |",
            "|---|---|",
            *[
                f"| {view} | {', '.join(fields)} |"
                for view, fields in (grant.details.get("fields") or {}).items()
            ],
            "",
        ]
    lines += ["## Records delivered", "", "| topic | records |", "|---|---|"]
    lines += [f"| {name} | {count:,} |" for name, count in sorted(records.items())] or ["| — | 0 |"]
    lines += ["", "## Refused accesses", ""]
    if refusals:
        lines += ["| what | times |", "|---|---|", *[f"| {w} | {n:,} |" for w, n in sorted(refusals.items())]]
    else:
        lines.append("None.")
    lines += ["", "## Grant and access events", ""]
    lines += [
        f"- {e.at:%Y-%m-%d %H:%M} UTC `{e.kind}` {e.what} — {e.who}"
        for e in of_month
        if e.kind != "access.refused"
    ]
    if not [e for e in of_month if e.kind != "access.refused"]:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def app_topics(events: list[AuditEvent], app: str) -> list[str]:
    """Every topic the app's projections wrote, from its grant events."""
    views = {
        view
        for e in events
        if e.kind in ("grant.applied", "grant.changed")
        for view in e.details.get("fields", {})
    }
    return sorted(topic(app, v) for v in views)
