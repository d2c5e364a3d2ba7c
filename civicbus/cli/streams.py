"""``civicbus streams worker``: the stream processors that build unified views."""

from __future__ import annotations

from pathlib import Path

import click

from civicbus.ops.logging import configure

from .common import fail, settings


@click.group("streams")
def command() -> None:
    """Stream processors that build unified views."""


@command.command("worker")
@click.option(
    "--views",
    "views_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="folder of view files to run [CIVICBUS_STREAMS_VIEWS_DIR; default: the shipped views]",
)
@click.pass_context
def worker(ctx: click.Context, views_dir: Path | None) -> None:
    """Run every view of a folder in one worker until SIGTERM."""
    from civicbus.streams.settings import StreamsSettings
    from civicbus.streams.views.catalog import load_all
    from civicbus.streams.views.spec import ViewError
    from civicbus.streams.worker import run

    configure(ctx.obj["log_level"], "streams")
    cfg = settings(StreamsSettings)
    try:
        specs = load_all(views_dir or cfg.views_dir)
    except ViewError as exc:
        fail(f"{exc.path}:\n  " + "\n  ".join(exc.problems))
    run(cfg, specs)
