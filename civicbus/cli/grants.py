"""``civicbus grants validate``: every problem of grant files, before the data office merges them."""

from __future__ import annotations

from pathlib import Path

import click

from .common import check_files, fail


@click.group("grants")
def command() -> None:
    """Grants: which downstream app may receive which fields of which views."""


@command.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--views",
    "views_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="the views the grants may name [default: the shipped views]",
)
def validate(files: tuple[Path, ...], views_dir: Path | None) -> None:
    """Check grant files against the views' canonical records and the sharing rules; list every
    problem of every file at once (exit 2)."""
    from civicbus.share.grants import Grant, load
    from civicbus.streams.views.catalog import load_all
    from civicbus.streams.views.spec import ViewError

    try:
        views = load_all(views_dir)
    except ViewError as exc:
        fail("\n  ".join([f"{exc.path}:", *exc.problems]))

    def summary(grant: Grant) -> str:
        granted = "; ".join(f"{v.view}: {', '.join(f.name for f in v.fields)}" for v in grant.views)
        return f"{grant.app} until {grant.expires}: {granted}"

    check_files(files, lambda path: load(path, views), summary, "grant")
