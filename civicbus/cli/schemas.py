"""``civicbus schemas check|catalog``: the canonical model's checks and the data catalog."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import click

from civicbus.core.settings import BusSettings

from .common import fail, settings

SCHEMAS_DIR = Path(str(resources.files("civicbus.schemas").joinpath("avro")))
EXAMPLES_DIR = Path(str(resources.files("civicbus.connectors").joinpath("examples")))


@click.group("schemas")
def command() -> None:
    """The canonical model: checks and the data catalog."""


@command.command("check")
@click.option(
    "--dir",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SCHEMAS_DIR,
    show_default=True,
    help="folder of .avsc files",
)
@click.option("--registry", "registry_url", default=None, help="default: CIVICBUS_REGISTRY_URL")
@click.option("--no-registry", is_flag=True, help="compare with git even if a registry answers")
@click.option(
    "--against",
    "ref",
    default=None,
    help="git revision to compare with under --no-registry (default: the merge base with the default branch)",
)
@click.option(
    "--mode",
    default="BACKWARD",
    show_default=True,
    type=click.Choice(["BACKWARD", "FORWARD", "FULL"]),
    help="rule without a registry",
)
def check(folder: Path, registry_url: str | None, no_registry: bool, ref: str | None, mode: str) -> None:
    """Lint every schema and check it against the registered (or committed) versions."""
    from civicbus.schemas.governance.check import CheckError
    from civicbus.schemas.governance.check import check as run_check

    url = None if no_registry else registry_url or settings(BusSettings).registry_url
    try:
        against, findings = run_check(folder, url, ref, mode)
    except CheckError as exc:
        fail(str(exc))
    for finding in findings:
        click.echo(str(finding))
    verdict = f"{len(findings)} problem(s)" if findings else "ok"
    click.echo(f"schemas check ({against}): {verdict}", err=True)
    sys.exit(1 if findings else 0)


@command.command("catalog")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/catalog"), show_default=True
)
@click.option(
    "--connectors",
    "connector_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=EXAMPLES_DIR,
    show_default=True,
)
def catalog(out: Path, connector_dir: Path) -> None:
    """Write the data catalog (政务数据目录) as catalog.md and catalog.html."""
    from civicbus.schemas.governance.catalog import write
    from civicbus.streams.settings import StreamsSettings
    from civicbus.streams.views.catalog import load_all

    specs = load_all(settings(StreamsSettings).views_dir)
    views = [(s.topic, s.record, f"view {s.name}") for s in specs]
    md, html = write(out, sorted(connector_dir.glob("*.yaml")), views)
    click.echo(f"wrote {md} and {html}")
