"""``civicbus broker start|stop``: the local single-node Kafka broker."""

from __future__ import annotations

import click

from civicbus.ops.kafka import broker as kb
from civicbus.ops.kafka.settings import BrokerSettings
from civicbus.ops.logging import configure

from .common import fail, settings


@click.group("broker")
def command() -> None:
    """The local single-node Kafka broker (skip it when CIVICBUS_BOOTSTRAP_SERVERS is yours)."""


@command.command("start")
@click.pass_context
def start(ctx: click.Context) -> None:
    """Resolve Kafka from Maven Central, format storage, start; idempotent."""
    configure(ctx.obj["log_level"], "broker")
    cfg = settings(BrokerSettings)
    try:
        kb.start(cfg)
    except kb.BrokerError as exc:
        fail(str(exc), 1)
    click.echo(f"kafka broker serving at {cfg.bootstrap}")


@command.command("stop")
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop the broker started from this directory."""
    configure(ctx.obj["log_level"], "broker")
    click.echo("stopped" if kb.stop(settings(BrokerSettings)) else "no broker was running")
