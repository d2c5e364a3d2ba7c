"""``civicbus views validate``: every problem of view files, before a worker runs them."""

from __future__ import annotations

from pathlib import Path

import click

from .common import fail


@click.group("views")
def command() -> None:
    """Unified views declared in YAML."""


@command.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
def validate(files: tuple[Path, ...]) -> None:
    """Check view files against the canonical records; list every problem at once (exit 2)."""
    from civicbus.streams.views.spec import ViewError, load

    problems = []
    for path in files:
        try:
            spec = load(path)
        except ViewError as exc:
            problems += [f"{path}: {p}" for p in exc.problems]
        else:
            sources = ", ".join(f"{s.department} {s.topic}" for s in spec.sources)
            click.echo(f"{path}: ok — view {spec.name} → {spec.topic} from {sources}")
    if problems:
        fail("\n  ".join(["invalid view file(s):", *problems]))
