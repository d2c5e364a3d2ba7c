"""``civicbus views validate``: every problem of view files, before a worker runs them."""

from __future__ import annotations

from pathlib import Path

import click

from .common import check_files


@click.group("views")
def command() -> None:
    """Unified views declared in YAML."""


@command.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
def validate(files: tuple[Path, ...]) -> None:
    """Check view files against the canonical records; list every problem at once (exit 2)."""
    from civicbus.streams.views.spec import ViewSpec, load

    def summary(spec: ViewSpec) -> str:
        sources = ", ".join(f"{s.department} {s.topic}" for s in spec.sources)
        return f"view {spec.name} → {spec.topic} from {sources}"

    check_files(files, load, summary, "view")
