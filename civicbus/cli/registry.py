"""``civicbus registry serve``: the Confluent-compatible schema registry."""

from __future__ import annotations

import click

from civicbus.ops.logging import configure

from .common import fail, settings


@click.group("registry")
def command() -> None:
    """The Confluent-compatible schema registry."""


@command.command("serve")
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Serve the registry API until SIGTERM."""
    from civicbus.registry.serve import serve as run
    from civicbus.registry.settings import RegistrySettings

    configure(ctx.obj["log_level"], "registry")
    run(settings(RegistrySettings))


@command.command("import")
@click.option("--from", "source", required=True, help="URL of the Confluent-compatible registry to copy")
@click.option("--to", "target", default=None, help="civicbus registry to copy into [CIVICBUS_REGISTRY_URL]")
@click.pass_context
def import_(ctx: click.Context, source: str, target: str | None) -> None:
    """Copy every subject, version and ID from another registry, then verify them.

    Exits 1 if the copy cannot keep IDs (every conflict is listed and nothing is written) or if
    the verification finds a difference.
    """
    from civicbus.core.settings import BusSettings
    from civicbus.registry.importer import ImportRefused, import_registry
    from civicbus.schemas.registry_client import RegistryClient
    from civicbus.schemas.registry_errors import RegistryError

    configure(ctx.obj["log_level"], "registry")
    into = target or settings(BusSettings).registry_url
    try:
        report = import_registry(RegistryClient(source), RegistryClient(into))
    except ImportRefused as exc:
        fail("import refused, nothing written:\n  " + "\n  ".join(exc.problems), code=1)
    except RegistryError as exc:
        fail(f"import failed: {exc}", code=1)
    click.echo(
        f"{report.subjects} subjects, {report.versions} versions, {report.ids} IDs "
        f"from {source} into {into}: "
        f"{report.imported} imported, {report.already_there} already there, "
        f"{report.soft_deleted} soft-deleted as in the source, {report.levels} compatibility levels"
    )
    if report.mismatches:
        fail("verification found differences:\n  " + "\n  ".join(report.mismatches), code=1)
    click.echo(f"verified: every ID resolves to the same schema in both registries ({report.ids} IDs)")
