"""``civicbus deadletter replay TOPIC``: send dead letters back once their cause is fixed."""

from __future__ import annotations

import sys

import click

from civicbus.core.settings import BusSettings
from civicbus.ops.logging import configure

from .common import settings


@click.group("deadletter")
def command() -> None:
    """Dead-letter topics: replay what a processor could not apply."""


@command.command("replay")
@click.argument("topic")
def replay(topic: str) -> None:
    """Re-send each dead letter of TOPIC that carries its input to the topic it came from.

    Exit status 1 when some were skipped (each is listed with why)."""
    from civicbus.ops.deadletters import replay as run

    configure("WARNING")
    report = run(settings(BusSettings).bootstrap_servers, topic)
    for line in report.skipped:
        click.echo(f"skipped {line}")
    click.echo(f"replayed {report.sent} dead letter(s) from {topic}; skipped {len(report.skipped)}")
    sys.exit(1 if report.skipped else 0)
