"""touchline serve / stop: the whole system on this machine, in the background."""

from __future__ import annotations

import typer

from touchline.cli.present import console
from touchline.config import get_settings


def serve(
    workers: int = typer.Option(1, min=1, max=16, help="Prefect process workers on the pool."),
    prefect_port: int = typer.Option(4200, help="Prefect server (UI and API)."),
    api_port: int = typer.Option(8970, help="Touchline's API."),
    sendgrid_port: int = typer.Option(8971, help="SendGrid emulator."),
    twilio_port: int = typer.Option(8972, help="Twilio emulator."),
    x_port: int = typer.Option(8973, help="X API emulator."),
) -> None:
    """Start the Prefect server (SQLite, or TOUCHLINE_PREFECT_DATABASE_URL), deploy
    prefect.yaml, start the workers, the API and the emulators; print their URLs."""
    from touchline.cli.checks import refuse_sandbox_secrets
    from touchline.serve import StackError, StackPlan, start_stack

    settings = get_settings()
    refuse_sandbox_secrets(settings, "touchline serve")
    plan = StackPlan.from_settings(
        settings, workers=workers, prefect_port=prefect_port, api_port=api_port,
        sendgrid_port=sendgrid_port, twilio_port=twilio_port, x_port=x_port,
    )  # fmt: skip
    out = console()
    try:
        with out.status("starting Touchline") as status:
            stack = start_stack(plan, progress=lambda line: status.update(line))
    except StackError as exc:
        out.print(f"[red]✗[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    out.print("[green]✓[/] Touchline is running", highlight=False)
    out.print(stack.summary(), highlight=False, soft_wrap=True)


def stop() -> None:
    """Stop what `touchline serve` started (workers and their flow runs, API, emulators,
    Prefect server): SIGTERM, then SIGKILL after 10 s. Does nothing if nothing runs."""
    from touchline.serve import stop_stack

    state_dir = get_settings().home.resolve() / "serve"
    stopped = stop_stack(state_dir)
    if stopped:
        console().print(f"[green]✓[/] stopped {', '.join(stopped)}", highlight=False)
    else:
        console().print("nothing was running", highlight=False)
