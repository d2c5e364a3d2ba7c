"""``civicbus streams worker``: the stream processors that build unified views."""

from __future__ import annotations

import click

from civicbus.ops.logging import configure

from .common import settings


@click.group("streams")
def command() -> None:
    """Stream processors that build unified views."""


@command.command("worker")
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the resident-profile join until SIGTERM."""
    from civicbus.streams.settings import StreamsSettings
    from civicbus.streams.worker import run

    configure(ctx.obj["log_level"], "streams")
    run(settings(StreamsSettings))
