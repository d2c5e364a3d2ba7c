"""Passwords kept as files in a secrets folder, one per principal, never in the repository.

:func:`password` returns a principal's password, generating a random one the first time: the
folder is created 0700 and each file 0600, so only the account running civicbus reads them.
An operator who prefers their own passwords writes the files before the first start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def path(folder: Path, principal: str) -> Path:
    return folder / f"{principal}.password"


def password(folder: Path, principal: str) -> str:
    """``principal``'s password in ``folder``; created (random, 32 characters) if missing."""
    file = path(folder, principal)
    if file.exists():
        return file.read_text(encoding="utf-8").strip()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    return value
