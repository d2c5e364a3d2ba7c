"""The ``civicbus`` command: one entry for integrators, operations staff and the demo.

Each sub-command loads its component's settings first; a bad setting stops it with exit status 2
and one line naming the variable. Long-running commands log JSON lines to stderr.
"""

from __future__ import annotations

import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from civicbus.settings import SettingsError, load
from ops.logging import configure


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"civicbus: {message}", err=True)
    sys.exit(code)


def _settings(model: type[Any]) -> Any:
    try:
        return load(model)
    except SettingsError as exc:
        _fail(str(exc))


@click.group()
@click.option("--log-level", default="INFO", show_default=True, envvar="CIVICBUS_LOG_LEVEL")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """civicbus: departmental databases → canonical Avro events on Kafka → unified views."""
    ctx.obj = {"log_level": log_level}


# --- broker ----------------------------------------------------------------------------------------
@main.group()
def broker() -> None:
    """The local single-node Kafka broker (skip it when CIVICBUS_BOOTSTRAP_SERVERS is yours)."""


@broker.command("start")
@click.pass_context
def broker_start(ctx: click.Context) -> None:
    """Resolve Kafka from Maven Central, format storage, start; idempotent."""
    from ops.kafka import broker as kb
    from ops.kafka.settings import BrokerSettings

    configure(ctx.obj["log_level"], "broker")
    cfg = _settings(BrokerSettings)
    try:
        kb.start(cfg)
    except kb.BrokerError as exc:
        _fail(str(exc), 1)
    click.echo(f"kafka broker serving at {cfg.bootstrap}")


@broker.command("stop")
@click.pass_context
def broker_stop(ctx: click.Context) -> None:
    """Stop the broker started from this directory."""
    from ops.kafka import broker as kb
    from ops.kafka.settings import BrokerSettings

    configure(ctx.obj["log_level"], "broker")
    click.echo("stopped" if kb.stop(_settings(BrokerSettings)) else "no broker was running")


# --- registry --------------------------------------------------------------------------------------
@main.group()
def registry() -> None:
    """The Confluent-compatible schema registry."""


@registry.command("serve")
@click.pass_context
def registry_serve(ctx: click.Context) -> None:
    """Serve the registry API until SIGTERM."""
    from schemas.registry.serve import serve
    from schemas.registry.settings import RegistrySettings

    configure(ctx.obj["log_level"], "registry")
    serve(_settings(RegistrySettings))


# --- connectors ------------------------------------------------------------------------------------
@main.group()
def connectors() -> None:
    """Run and check connectors declared in YAML files."""


def _build(path: Path, settings: Any) -> Any:
    from connectors.config import ConfigError
    from connectors.config import load as load_config
    from connectors.runner import Connector

    try:
        return Connector(load_config(path), settings)
    except (ConfigError, ValueError, KeyError) as exc:
        _fail(f"{path}: {exc}" if str(path) not in str(exc) else str(exc))


@connectors.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def connectors_validate(files: tuple[Path, ...]) -> None:
    """Report every problem of each file: settings, mapping, table, columns and column types."""
    from connectors.validate import validate

    configure("WARNING")
    failed = False
    for path in files:
        problems = validate(path)
        failed = failed or bool(problems)
        click.echo(f"{path}: ok" if not problems else f"{path}: {len(problems)} problem(s)")
        for problem in problems:
            click.echo(f"  - {problem}")
    sys.exit(1 if failed else 0)


@connectors.command("status")
def connectors_status() -> None:
    """Each connector's state, position, lag, rate and errors, as it last reported them."""
    import json
    import time

    from connectors.config import ConnectorSettings
    from connectors.status import read_all

    configure("WARNING")
    settings = _settings(ConnectorSettings)
    rows = read_all(settings.bootstrap_servers, settings.status_topic)
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


@connectors.command("run")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--watch",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="also run every *.yaml in this folder, including files added while running",
)
@click.pass_context
def connectors_run(ctx: click.Context, files: tuple[Path, ...], folder: Path | None) -> None:
    """Run connectors until SIGTERM; position is saved after each acknowledged batch."""
    from connectors.config import ConnectorSettings
    from connectors.supervisor import Supervisor
    from ops import metrics

    if not files and not folder:
        _fail("give connector files, --watch FOLDER, or both")
    configure(ctx.obj["log_level"], "connectors")
    settings = _settings(ConnectorSettings)
    supervisor = Supervisor(settings, lambda p: _build(p, settings))
    for path in files:
        supervisor.start(path)
    metrics.serve(settings.metrics_port, settings.metrics_addr)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: supervisor.stop.set())
    if folder:
        supervisor.watch(folder)
    elif not supervisor.run_fixed():
        _fail("a connector stopped with an error; see the log", 1)


# --- streams ---------------------------------------------------------------------------------------
@main.group()
def streams() -> None:
    """Stream processors that build unified views."""


@streams.command("worker")
@click.pass_context
def streams_worker(ctx: click.Context) -> None:
    """Run the resident-profile join until SIGTERM."""
    from streams.settings import StreamsSettings
    from streams.worker import run

    configure(ctx.obj["log_level"], "streams")
    run(_settings(StreamsSettings))


# --- subscribers -----------------------------------------------------------------------------------
@main.command("tail")
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="start at the oldest record, not at now")
@click.option("--max-records", type=int, default=None, help="stop after this many records")
@click.option("--timeout", "timeout_s", type=float, default=None, help="stop after this many seconds")
def tail_cmd(topic: str, from_beginning: bool, max_records: int | None, timeout_s: float | None) -> None:
    """Print each record of TOPIC as a JSON line, decoded through the registry."""
    from civicbus.settings import BusSettings
    from civicbus.tail import tail

    configure("WARNING")
    s = _settings(BusSettings)
    tail(s.bootstrap_servers, s.registry_url, topic, from_beginning, max_records, timeout_s)


# --- standards and schemas ------------------------------------------------------------------------
CHECK_KINDS = ["id-number", "uscc", "division", "phone", "date", "gender", "ethnicity"]


@main.command("check")
@click.argument("kind", type=click.Choice(CHECK_KINDS))
@click.argument("values", nargs=-1, required=True)
def check_cmd(kind: str, values: tuple[str, ...]) -> None:
    """Normalise VALUES of KIND by the national standard, or say why each is invalid.

    Exit status 1 when any value is invalid.
    """
    from schemas.standards import NORMALIZERS, InvalidValue, division

    normalize = NORMALIZERS[kind.replace("-", "_")]
    invalid = 0
    for value in values:
        try:
            result = normalize(value)
        except InvalidValue as exc:
            invalid += 1
            click.echo(f"{value}\tinvalid: {exc}")
            continue
        extra = ""
        if kind == "division":
            d = division.lookup(result)
            extra = f"\t{d.name or '(not in the shipped table)'}"
            if d.retired:
                extra += f"\tretired, successor {d.successor}: {d.note}"
        click.echo(f"{value}\t{result}{extra}")
    sys.exit(1 if invalid else 0)


@main.group("schemas")
def schemas_group() -> None:
    """The canonical model: checks and the data catalog."""


SCHEMAS_DIR = Path(str(resources.files("schemas").joinpath("avro")))
EXAMPLES_DIR = Path(str(resources.files("connectors").joinpath("examples")))


@schemas_group.command("check")
@click.option(
    "--dir",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SCHEMAS_DIR,
    show_default=True,
    help="folder of .avsc files",
)
@click.option(
    "--registry",
    "registry_url",
    envvar="CIVICBUS_REGISTRY_URL",
    default="http://127.0.0.1:8081",
    show_default=True,
)
@click.option("--no-registry", is_flag=True, help="compare with git even if a registry answers")
@click.option("--against", "ref", default="HEAD", show_default=True, help="git revision without a registry")
@click.option(
    "--mode",
    default="BACKWARD",
    show_default=True,
    type=click.Choice(["BACKWARD", "FORWARD", "FULL"]),
    help="rule without a registry",
)
def schemas_check(folder: Path, registry_url: str, no_registry: bool, ref: str, mode: str) -> None:
    """Lint every schema and check it against the registered (or committed) versions."""
    from schemas.governance.check import check

    against, findings = check(folder, None if no_registry else registry_url, ref, mode)
    for finding in findings:
        click.echo(str(finding))
    verdict = f"{len(findings)} problem(s)" if findings else "ok"
    click.echo(f"schemas check ({against}): {verdict}", err=True)
    sys.exit(1 if findings else 0)


@schemas_group.command("catalog")
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
def schemas_catalog(out: Path, connector_dir: Path) -> None:
    """Write the data catalog (政务数据目录) as catalog.md and catalog.html."""
    from schemas.governance.catalog import write
    from streams.settings import StreamsSettings

    view = _settings(StreamsSettings).view_topic
    md, html = write(out, sorted(connector_dir.glob("*.yaml")), view)
    click.echo(f"wrote {md} and {html}")


# --- demo ------------------------------------------------------------------------------------------
@main.group("demo", invoke_without_command=True)
@click.option("--residents", default=2000, show_default=True, help="size of the sample databases")
@click.option("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
@click.pass_context
def demo(ctx: click.Context, residents: int, seconds: float | None) -> None:
    """Bring up broker, registry, connectors and streams on sample data; print profiles."""
    if ctx.invoked_subcommand:
        return
    from civicbus.demo.run import run_demo

    configure(ctx.obj["log_level"], "demo")
    sys.exit(run_demo(residents, seconds))


@demo.command("generate")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the .db files")
@click.option("--residents", default=2000, show_default=True)
@click.option("--seed", default=12345, show_default=True)
def demo_generate(out: Path, residents: int, seed: int) -> None:
    """Write the sample 公安 and 民政 SQLite databases."""
    from civicbus.demo.generate import generate

    out.mkdir(parents=True, exist_ok=True)
    h, m = generate(f"sqlite:///{out / 'hukou.db'}", f"sqlite:///{out / 'minzheng.db'}", residents, seed)
    click.echo(f"wrote {h} household-registration rows and {m} civil-affairs rows to {out}")


if __name__ == "__main__":
    main()
