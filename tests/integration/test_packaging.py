"""civicbus installs as one import name, beside a PyPI package that owns a generic one (``ops``)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from ..helpers import ROOT

pytestmark = pytest.mark.integration


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT, cwd=dist)
    (found,) = dist.glob("civicbus-*.whl")
    return found


def test_the_wheel_holds_every_module_under_civicbus_and_nothing_else_at_the_top(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"civicbus"}
    mapped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in mapped.items():
        for source in (ROOT / folder).rglob("*.py"):
            if not (source.parent / "__init__.py").exists():
                continue  # scripts beside the package (ops/local), not part of it
            installed = f"{package.replace('.', '/')}/{source.relative_to(ROOT / folder).as_posix()}"
            assert installed in names, f"{source.relative_to(ROOT)} is missing from the wheel"
    assert "civicbus/schemas/avro/resident.avsc" in names
    assert "civicbus/connectors/examples/gongan-hukou.yaml" in names


def test_installed_beside_the_pypi_ops_package_both_import(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=tmp_path)
    run(python, "-m", "pip", "install", "-q", "ops", cwd=tmp_path)  # Canonical's charm library
    # civicbus's own dependencies come from the project's environment, after the venv's packages
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run(python, "-c", purelib, cwd=tmp_path).strip())
    (site / "zz_civicbus_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = """
import importlib.util, importlib.metadata as md
import ops, ops.charm
import civicbus.connectors.base, civicbus.ops.metrics, civicbus.schemas.model, civicbus.registry.store
assert ops.__file__.startswith(VENV), ops.__file__
assert civicbus.ops.metrics.__file__.startswith(VENV), civicbus.ops.metrics.__file__
for generic in ("connectors", "schemas", "streams", "registry"):
    assert importlib.util.find_spec(generic) is None, generic
sources = {ep.name: ep.load().__module__ for ep in md.entry_points(group="civicbus.sources")}
assert sources == {"sql": "civicbus.connectors.sql.source",
                   "spreadsheet": "civicbus.connectors.spreadsheet.source",
                   "pgoutput": "civicbus.connectors.cdc.pg.source",
                   "binlog": "civicbus.connectors.cdc.mysql.source"}, sources
print("ok", md.version("ops"))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run(
        [str(python), "-c", probe.replace("VENV", repr(str(venv)))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok ")
