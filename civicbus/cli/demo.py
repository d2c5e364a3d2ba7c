"""``civicbus demo [generate]``: the whole path on sample data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from civicbus.ops.logging import configure


@click.group("demo", invoke_without_command=True)
@click.option("--residents", default=2000, show_default=True, help="size of the sample databases")
@click.option("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
@click.pass_context
def command(ctx: click.Context, residents: int, seconds: float | None) -> None:
    """Bring up broker, registry, connectors and streams on sample data; print profiles."""
    if ctx.invoked_subcommand:
        return
    from civicbus.demo.run import run_demo

    configure(ctx.obj["log_level"], "demo")
    sys.exit(run_demo(residents, seconds))


@command.command("generate")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the .db files")
@click.option("--residents", default=2000, show_default=True)
@click.option("--seed", default=12345, show_default=True)
def generate(out: Path, residents: int, seed: int) -> None:
    """Write the sample departments' SQLite databases."""
    from civicbus.demo.generate import write_demo

    click.echo(f"wrote {write_demo(out, residents, seed)}")
