"""Which view files a worker runs: every ``*.yaml`` of a folder, the shipped ones by default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .spec import ViewError, ViewSpec, load


def shipped() -> Path:
    """The folder of the views civicbus ships (streams/views/examples)."""
    return Path(str(resources.files("civicbus.streams.views").joinpath("examples")))


def load_all(folder: Path | None = None) -> list[ViewSpec]:
    """Every view in ``folder`` (default :func:`shipped`), by file name; raises ViewError for the
    first folder-level problem or listing every problem of every file at once."""
    where = folder or shipped()
    files = sorted(where.glob("*.yaml"))
    if not files:
        raise ViewError(str(where), ["no view files (*.yaml) here"])
    specs, problems = [], []
    for path in files:
        try:
            specs.append(load(path))
        except ViewError as exc:
            problems += [f"{path.name}: {p}" for p in exc.problems]
    names = [s.name for s in specs]
    problems += [f"two views are named {n!r}" for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise ViewError(str(where), problems)
    return specs
