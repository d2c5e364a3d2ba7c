"""What every sub-command shares: failing with one line, and loading a component's settings."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from pydantic_settings import BaseSettings

from civicbus.core import identity
from civicbus.core.files import FileProblems
from civicbus.core.settings import SettingsError, load

S = TypeVar("S", bound=BaseSettings)
T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``civicbus: message`` on stderr and exit with ``code`` (2: bad input or settings)."""
    click.echo(f"civicbus: {message}", err=True)
    sys.exit(code)


def settings(model: type[S]) -> S:
    """``model`` from the environment; a bad value (of it, or of the process's Kafka identity,
    :mod:`civicbus.core.identity`) exits 2 naming the variable."""
    try:
        identity.current()
        return load(model)
    except SettingsError as exc:
        fail(str(exc))


def check_files(
    files: Iterable[Path], load: Callable[[Path], T], summary: Callable[[T], str], kind: str
) -> None:
    """Load each file, printing ``path: ok — summary`` for a good one; then, if any failed, exit
    2 listing every problem of every file (``load`` raises FileProblems)."""
    problems: list[str] = []
    for path in files:
        try:
            item = load(path)
        except FileProblems as exc:
            problems += [f"{path}: {p}" for p in exc.problems]
        else:
            click.echo(f"{path}: ok — {summary(item)}")
    if problems:
        fail("\n  ".join([f"invalid {kind} file(s):", *problems]))
