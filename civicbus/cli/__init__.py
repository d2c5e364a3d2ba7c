"""The ``civicbus`` command: one entry for integrators, operations staff and the demo.

Orchestration only: each sub-command (a module here) loads its component's settings first (a bad
setting exits 2 with one line naming the variable), then calls into the component. Long-running
commands log JSON lines to stderr.
"""

from __future__ import annotations

import click

from . import (
    audit,
    broker,
    check,
    connectors,
    deadletter,
    demo,
    grants,
    registry,
    schemas,
    share,
    streams,
    tail,
    views,
)


@click.group()
@click.option("--log-level", default="INFO", show_default=True, envvar="CIVICBUS_LOG_LEVEL")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """civicbus: departmental databases → canonical Avro events on Kafka → unified views."""
    ctx.obj = {"log_level": log_level}


for module in (
    broker,
    registry,
    connectors,
    streams,
    views,
    grants,
    share,
    tail,
    audit,
    deadletter,
    check,
    schemas,
    demo,
):
    main.add_command(module.command)
main.add_command(share.sink)

if __name__ == "__main__":
    main()
