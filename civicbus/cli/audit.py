"""``civicbus audit``: the sharing audit trail for a time range and an app, or a monthly report."""

from __future__ import annotations

import datetime as dt
import json

import click

from civicbus.ops.logging import configure

from .common import fail, settings


def _instant(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"not a date or time: {text!r} (e.g. 2026-11-01 or 2026-11-01T08:00)")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@click.command("audit")
@click.option("--since", default=None, help="from this date or time (UTC unless it says otherwise)")
@click.option("--until", default=None, help="up to this date or time, exclusive")
@click.option("--app", default=None, help="only this app's events")
@click.option(
    "--report", "month", default=None, metavar="YYYY-MM", help="the month's report for --app, in Markdown"
)
def command(since: str | None, until: str | None, app: str | None, month: str | None) -> None:
    """Print audit events (one JSON line each): grants, access changes, projections, refusals."""
    from civicbus.share import audit, report
    from civicbus.share.settings import ShareSettings

    configure("WARNING")
    cfg = settings(ShareSettings)
    if month is not None:
        if app is None:
            fail("--report needs --app")
        try:
            start, end = report.month_range(month)
        except ValueError:
            fail(f"not a month: {month!r} (YYYY-MM)")
        events = list(audit.read(cfg.bootstrap_servers, cfg.audit_topic, until=end, app=app))
        counts = report.delivered(cfg.bootstrap_servers, report.app_topics(events, app), start, end)
        click.echo(report.markdown(app, month, events, counts), nl=False)
        return
    for event in audit.read(cfg.bootstrap_servers, cfg.audit_topic, _instant(since), _instant(until), app):
        click.echo(json.dumps(event.model_dump(mode="json"), ensure_ascii=False))
