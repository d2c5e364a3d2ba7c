"""``civicbus registry serve``: the Confluent-compatible schema registry."""

from __future__ import annotations

import click

from civicbus.ops.logging import configure

from .common import settings


@click.group("registry")
def command() -> None:
    """The Confluent-compatible schema registry."""


@command.command("serve")
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Serve the registry API until SIGTERM."""
    from civicbus.registry.serve import serve as run
    from civicbus.registry.settings import RegistrySettings

    configure(ctx.obj["log_level"], "registry")
    run(settings(RegistrySettings))
