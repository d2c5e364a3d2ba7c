"""What every reviewed file (a connector, a view, a grant) is checked with: a strict model, and one
error that lists every problem of the file at once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class FileProblems(Exception):
    """A file that cannot be used; ``problems`` lists every reason, each naming its place."""

    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


def described(exc: ValidationError) -> list[str]:
    """Each error of a model's validation as ``place: message`` (``(file)`` for the whole file)."""
    return [f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()]


class Strict(BaseModel):
    """A part of such a file: unknown keys are refused (a typo is an error, not a default), and
    the loaded value is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
