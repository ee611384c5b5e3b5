"""touchline customers: privacy requests — forget a customer, export what we hold."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from touchline.cli.present import console
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.errors import UnknownCustomerError
from touchline.words import counted

app = typer.Typer(help="Privacy requests: erase or export a customer.", no_args_is_help=True)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


@app.command()
def forget(
    customer_id: str = typer.Argument(..., help="The customer to erase."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    actor: str = typer.Option(None, help="Who asked (kept in the audit); default cli:<user>."),
) -> None:
    """Erase the customer's personal data (and that of profiles merged into them): profile,
    addresses, event payloads, messages sent. Consent evidence is kept with addresses
    replaced by keyed hashes (docs/privacy.md). Cannot be undone."""
    from touchline.privacy.actions import forget_customer

    out = console()
    if not yes and not typer.confirm(f"Erase {customer_id}'s personal data? This cannot be undone"):
        raise typer.Exit(1)
    settings = get_settings()
    try:
        result = forget_customer(
            Database(settings.resolved_database_url), customer_id, settings=settings,
            now=SystemClock().now(), actor=_actor(actor), via="cli",
        )  # fmt: skip
    except UnknownCustomerError as exc:
        out.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    changed = ", ".join(f"{name} {n:,}" for name, n in result.counts.items()) or "nothing"
    out.print(
        f"[green]✓[/] erased {result.customer_id}"
        + (f" (and {', '.join(result.profiles[1:])})" if len(result.profiles) > 1 else "")
        + f": {changed}. Audit #{result.audit_id}, {result.customer_key[:24]}…"
    )


@app.command()
def export(
    customer_id: str = typer.Argument(..., help="The customer to export."),
    out_path: Path = typer.Option(None, "--out", "-o", help="Write here (default: stdout)."),
    actor: str = typer.Option(None, help="Who asked (kept in the audit); default cli:<user>."),
) -> None:
    """Everything held about the customer, as JSON (their right of access and portability)."""
    from touchline.privacy.actions import export_customer_data

    out = console()
    settings = get_settings()
    try:
        data = export_customer_data(
            Database(settings.resolved_database_url), customer_id, settings=settings,
            now=SystemClock().now(), actor=_actor(actor), via="cli",
        )  # fmt: skip
    except UnknownCustomerError as exc:
        out.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)
    if out_path is None:
        typer.echo(text)
        return
    out_path.write_text(text + "\n", encoding="utf-8")
    rows = sum(len(r) for r in data["tables"].values())
    out.print(f"[green]✓[/] {out_path}: {counted(rows, 'row')} about {data['customer_id']}")
