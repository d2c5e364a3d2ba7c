"""What every sub-command shares: failing with one line, and loading a component's settings."""

from __future__ import annotations

import sys
from typing import NoReturn, TypeVar

import click
from pydantic_settings import BaseSettings

from civicbus.core.settings import SettingsError, load

S = TypeVar("S", bound=BaseSettings)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``civicbus: message`` on stderr and exit with ``code`` (2: bad input or settings)."""
    click.echo(f"civicbus: {message}", err=True)
    sys.exit(code)


def settings(model: type[S]) -> S:
    """``model`` from the environment; a bad value exits 2 naming the variable."""
    try:
        return load(model)
    except SettingsError as exc:
        fail(str(exc))
