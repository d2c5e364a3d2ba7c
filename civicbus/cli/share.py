"""``civicbus share run`` and ``civicbus sink postgres|webhook``: sharing with downstream apps."""

from __future__ import annotations

import threading

import click

from civicbus.core.backoff import Stopped
from civicbus.core.signals import stop_on_signals
from civicbus.ops import metrics
from civicbus.ops.logging import configure

from .common import fail, settings


@click.group("share")
def command() -> None:
    """Projections, logins and ACLs for downstream apps, kept equal to the grant files."""


@command.command("run")
@click.pass_context
def run(ctx: click.Context) -> None:
    """Apply the grants in CIVICBUS_SHARE_GRANTS_DIR until SIGTERM (re-read every reload_s)."""
    from civicbus.share.service import Service
    from civicbus.share.settings import ShareSettings
    from civicbus.streams.views.spec import ViewError

    configure(ctx.obj["log_level"], "share")
    cfg = settings(ShareSettings)
    metrics.serve(cfg.metrics_port, cfg.metrics_addr)
    stop = threading.Event()
    stop_on_signals(stop, "share.stopping")
    try:
        service = Service(cfg, stop)
    except Stopped:
        return
    except ViewError as exc:
        fail(f"{exc.path}:\n  " + "\n  ".join(exc.problems))
    service.run(stop)


@click.group("sink")
def sink() -> None:
    """Deliver an app's projection of a view into its database or to its URL (as the app)."""


def _run_sink(ctx: click.Context, kind: str) -> None:
    """Build the ``kind`` sink from CIVICBUS_SINK_* (a missing setting exits 2 naming it) and run
    it until SIGTERM."""
    from civicbus.share.sinks.postgres import PostgresSink
    from civicbus.share.sinks.settings import SinkSettings
    from civicbus.share.sinks.webhook import WebhookSink

    configure(ctx.obj["log_level"], "sink")
    cfg = settings(SinkSettings)
    try:
        runner = PostgresSink(cfg) if kind == "postgres" else WebhookSink(cfg)
    except ValueError as exc:
        fail(str(exc))
    stop = threading.Event()
    stop_on_signals(stop, "sink.stopping")
    runner.run(stop)


@sink.command("postgres")
@click.pass_context
def postgres(ctx: click.Context) -> None:
    """Upsert CIVICBUS_SINK_APP's projection of CIVICBUS_SINK_VIEW into CIVICBUS_SINK_DATABASE_URL."""
    _run_sink(ctx, "postgres")


@sink.command("webhook")
@click.pass_context
def webhook(ctx: click.Context) -> None:
    """POST each record of the app's projection to CIVICBUS_SINK_URL, signed."""
    _run_sink(ctx, "webhook")
