"""touchline advance / timeline / demo / sandbox / api: running Touchline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from touchline.cli.present import console, timeline_table
from touchline.config import get_settings
from touchline.db import Database
from touchline.words import counted


def advance(
    as_of: datetime = typer.Option(None, help="Advance as of this time (ISO 8601; default now)."),
    batch_size: int = typer.Option(
        None, help="Enrollments per batch (default TOUCHLINE_BATCH_SIZE)."
    ),
) -> None:
    """Run the advance-journeys flow once: every due enrollment, batch by batch."""
    from flows.advance import advance_journeys
    from touchline.cli.checks import refuse_sandbox_secrets

    refuse_sandbox_secrets(get_settings(), "touchline advance")
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    console().print(advance_journeys(as_of=as_of, batch_size=batch_size))


def timeline(customer_id: str = typer.Argument(..., help="The customer's id.")) -> None:
    """Every event, consent change, decision, send and engagement of one customer, in order."""
    from touchline.record import Preference
    from touchline.timeline import customer_timeline

    db = Database(get_settings().resolved_database_url)
    with db.session() as session:
        entries = customer_timeline(session, customer_id)
        preference = session.get(Preference, customer_id)
    if not entries:
        console().print(f"[yellow]no record of customer '{customer_id}'[/]")
        raise typer.Exit(1)
    console().print(
        timeline_table(entries, customer_id, preference.timezone if preference else None)
    )


def demo(
    customers: int = typer.Option(1000, min=10, max=100_000, help="Synthetic customers."),
    seed: int = typer.Option(7, help="Seed of the synthetic audience and its engagement."),
) -> None:
    """The welcome journey end to end on synthetic customers, in simulated time."""
    import os

    # Prefect's own chatter off the console; the runs keep their logs for the UI.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from touchline.demo.present import print_demo
    from touchline.demo.run import run_demo

    out = console()
    out.print(
        f"[bold]Touchline demo[/] — the welcome journey for {customers:,} synthetic customers (Prefect in ephemeral mode; emulated SendGrid and Twilio)\n"
    )
    # Heartbeats detect crashed runs on a real server; for short in-process runs they
    # only add a second each.
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        result = run_demo(
            customers=customers, seed=seed, progress=lambda line: out.print(f"  [dim]{line}[/]")
        )
    print_demo(out, result)


def sandbox_serve(
    sendgrid_port: int = typer.Option(8971, help="SendGrid emulator port."),
    twilio_port: int = typer.Option(8972, help="Twilio emulator port."),
    x_port: int = typer.Option(8973, help="X API emulator port."),
    keep_bodies: bool = typer.Option(
        True, help="Keep message bodies for inspection (off for million-message runs)."
    ),
    webhooks: bool = typer.Option(
        True, help="Post delivery and engagement events to Touchline's API (TOUCHLINE_PUBLIC_URL)."
    ),
    inbound_sms_url: str = typer.Option(
        "",
        help="Where texts customers send are posted (default: TOUCHLINE_PUBLIC_URL's "
        "/webhooks/twilio/inbound when --webhooks).",
    ),
) -> None:
    """Run the SendGrid, Twilio and X emulators in the foreground."""
    from sandbox import Sandbox, SandboxConfig, SandboxServer

    settings = get_settings()
    sandbox = Sandbox(
        SandboxConfig(
            state_dir=settings.sandbox_dir,
            sendgrid_api_key=settings.sendgrid_api_key.get_secret_value(),
            twilio_account_sid=settings.twilio_account_sid,
            twilio_auth_token=settings.twilio_auth_token.get_secret_value(),
            twilio_numbers={"+15005550006", settings.sms_from},
            event_webhook_url=f"{settings.public_url.rstrip('/')}/webhooks/sendgrid/events"
            if webhooks
            else None,
            keep_bodies=keep_bodies,
            webhooks=webhooks,
            x_consumer_key=settings.x_consumer_key,
            x_consumer_secret=settings.x_consumer_secret.get_secret_value(),
            x_access_token=settings.x_access_token,
            x_access_token_secret=settings.x_access_token_secret.get_secret_value(),
            x_webhook_url=f"{settings.public_url.rstrip('/')}/webhooks/x" if webhooks else None,
            # Texts customers send (POST /_sandbox/sms/inbound, simulated replies) reach
            # Touchline's keyword handling, as a Twilio number's "A message comes in" does.
            inbound_sms_url=inbound_sms_url
            or (f"{settings.public_url.rstrip('/')}/webhooks/twilio/inbound" if webhooks else None),
        )
    )
    server = SandboxServer(
        sandbox, sendgrid_port=sendgrid_port, twilio_port=twilio_port, x_port=x_port
    )
    out = console()
    out.print(
        f"SendGrid emulator  {server.sendgrid_url}   (control: {server.sendgrid_url}/_sandbox/stats)"
    )
    out.print(
        f"Twilio emulator    {server.twilio_url}   (a customer texts: POST /_sandbox/sms/inbound)"
    )
    out.print(f"X API emulator     {server.x_url}")
    out.print(
        f"Event Webhook key  {Path(settings.sandbox_dir) / 'sendgrid_event_webhook_public_key'}"
    )
    server.serve_forever()


def api_serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8970),
) -> None:
    """Run Touchline's HTTP API (webhooks, unsubscribe links; docs at /docs)."""
    import uvicorn

    from touchline.api import create_app
    from touchline.cli.checks import refuse_sandbox_secrets

    refuse_sandbox_secrets(get_settings(), "the API")
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


def worker(
    as_of: datetime = typer.Option(
        None, help="Advance as of this time (ISO 8601; default: the clock, read per batch)."
    ),
    batch_size: int = typer.Option(
        None, help="Enrollments per batch (default TOUCHLINE_BATCH_SIZE)."
    ),
    poll: float = typer.Option(
        None, help="Keep running: look for due work every POLL seconds. Default: stop when idle."
    ),
) -> None:
    """Advance due work in this process, without Prefect: for dedicated workers. Several may
    run side by side (PostgreSQL); SIGTERM finishes the batch in hand, then stops."""
    from touchline.cli.checks import refuse_sandbox_secrets
    from touchline.clock import SystemClock
    from touchline.engine import Engine
    from touchline.engine.worker import run_worker, stop_on_sigterm

    refuse_sandbox_secrets(get_settings(), "the worker")
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    clock = SystemClock()
    engine = Engine.from_settings(get_settings())
    out = console()
    out.print(f"worker {engine.worker_id} started", highlight=False)

    def on_batch(number: int, report) -> None:  # type: ignore[no-untyped-def]
        out.print(
            f"batch {number}: {counted(report.claimed, 'enrollment')}, {report.count('sent')} sent, "
            f"{report.count('skipped')} skipped, {report.count('failed')} failed",
            highlight=False,
        )

    try:
        total = run_worker(
            engine,
            (lambda: as_of) if as_of is not None else clock.now,
            batch_size=batch_size,
            poll_seconds=poll,
            on_batch=on_batch,
            stop=stop_on_sigterm(),
        )
    finally:
        engine.close()
    out.print(
        f"[green]✓[/] {counted(total.claimed, 'enrollment')} advanced: {total.count('sent')} sent, "
        f"{total.count('skipped')} skipped, {total.count('failed')} failed"
    )
    if total.aborted:
        out.print(f"[red]✗[/] {total.aborted}")
        raise typer.Exit(1)
