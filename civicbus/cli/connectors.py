"""``civicbus connectors validate|run|status``: connectors declared in YAML files."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from civicbus.core import heap
from civicbus.core.signals import stop_on_signals
from civicbus.ops.logging import configure

from .common import fail, settings


@click.group("connectors")
def command() -> None:
    """Run and check connectors declared in YAML files."""


@command.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Report every problem of each file: settings, mapping, table, columns and column types."""
    from civicbus.connectors.plan import problems

    configure("WARNING")
    failed = False
    for path in files:
        found = problems(path)
        failed = failed or bool(found)
        click.echo(f"{path}: ok" if not found else f"{path}: {len(found)} problem(s)")
        for problem in found:
            click.echo(f"  - {problem}")
    sys.exit(1 if failed else 0)


@command.command("status")
def status() -> None:
    """Each connector's state, position, lag, rate and errors, as it last reported them."""
    from civicbus.connectors.config import ConnectorSettings
    from civicbus.connectors.status import read_all

    configure("WARNING")
    cfg = settings(ConnectorSettings)
    rows = read_all(cfg.bootstrap_servers, cfg.status_topic)
    if not rows:
        click.echo("no connector has reported yet")
        return
    click.echo(
        f"{'connector':<28} {'state':<8} {'rows':>10} {'rate/s':>8} {'lag s':>11} {'dead':>6} "
        f"{'errors':>6} {'seen s ago':>10}  position"
    )
    for s in rows:
        lag = "-" if s.lag_s is None else f"{s.lag_s:.1f}"
        ago = f"{time.time() - s.updated_ms / 1000:.0f}"
        position = json.dumps(s.position, ensure_ascii=False)[:80]
        click.echo(
            f"{s.connector:<28} {s.state:<8} {s.rows_produced:>10} {s.rate_rows_s:>8} {lag:>11} "
            f"{s.dead_letters:>6} {s.errors:>6} {ago:>10}  {position}"
        )


@command.command("run")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--watch",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="also run every *.yaml in this folder, including files added while running",
)
@click.pass_context
def run(ctx: click.Context, files: tuple[Path, ...], folder: Path | None) -> None:
    """Run connectors until SIGTERM; a crashed connector is restarted, the others go on."""
    from civicbus.connectors import wiring
    from civicbus.connectors.config import ConnectorSettings
    from civicbus.connectors.plan import PlanError, load_plan
    from civicbus.connectors.supervisor import Supervisor
    from civicbus.ops import metrics

    if not files and not folder:
        fail("give connector files, --watch FOLDER, or both")
    configure(ctx.obj["log_level"], "connectors")
    cfg = settings(ConnectorSettings)
    try:  # every named file must be valid before anything starts
        plans = [(path, load_plan(path)) for path in files]
    except PlanError as exc:
        fail(str(exc))
    supervisor = Supervisor(lambda plan, stop: wiring.run(plan, cfg, stop))
    heap.settle()
    for path, plan in plans:
        supervisor.start(path, plan)
    metrics.serve(cfg.metrics_port, cfg.metrics_addr)
    stop_on_signals(supervisor.stop)
    if folder:
        supervisor.watch(folder)
    elif not supervisor.wait():
        fail("every connector has ended: fenced by a newer instance of itself (see the log)", 1)


@command.command("snapshot")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def snapshot(file: Path) -> None:
    """Ask the running connector of FILE to read its whole table again, while changes keep
    flowing (log-based types); it acts on it between batches, or when it next starts."""
    from civicbus.connectors.config import ConnectorSettings, load
    from civicbus.connectors.signals import send

    configure("WARNING")
    cfg = settings(ConnectorSettings)
    name = load(file).name
    signal_id = send(cfg.bootstrap_servers, cfg.signals_topic, name, "snapshot")
    click.echo(f"asked {name} to snapshot its table again (signal {signal_id}); its log says signal.accepted")
