"""Build ``.civicbus/linktree/civicbus``: the package as installed, made of links to the sources.

The repository keeps each component in its own top-level folder and pyproject's package-dir maps
it under ``civicbus``. Python follows that mapping through setuptools' editable finder; mypy and
lint-imports read files and cannot. They run inside this tree instead: real folders (so walkers
that do not follow folder links see everything) holding one symlink per source file, rebuilt on
every run so new and deleted files are seen. Run from the repository root; prints the tree's path.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / ".civicbus" / "linktree"


def folder(package: str, mapped: dict[str, str]) -> Path:
    """The repository folder of ``package`` under pyproject's package-dir mapping."""
    owners = [m for m in mapped if package == m or package.startswith(m + ".")]
    if not owners:
        return ROOT / package.replace(".", "/")
    owner = max(owners, key=len)
    return ROOT / mapped[owner] / package[len(owner) :].lstrip(".").replace(".", "/")


def build() -> Path:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped: dict[str, str] = setuptools.get("package-dir", {})
    shutil.rmtree(TREE, ignore_errors=True)
    for package in setuptools["packages"]:
        source = folder(package, mapped)
        target = TREE / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        for file in source.glob("*.py"):
            (target / file.name).symlink_to(file)
    return TREE


if __name__ == "__main__":
    print(build())
