"""touchline events: send events into Touchline."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from touchline.cli.present import console
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.errors import ConfigurationError
from touchline.intake import ingest, read_json_lines
from touchline.intake.stats import event_stats
from touchline.intake.tracking_plan import load_plan
from touchline.words import counted

app = typer.Typer(help="Events: genesis events, exits, goals, behaviour.", no_args_is_help=True)


@app.command()
def send(
    file: str = typer.Argument(..., help="A JSON-lines file of events, or - for standard input."),
    source: str = typer.Option(
        None, help="Where the events come from (recorded with each); default: the file name."
    ),
) -> None:
    """Validate and store events, enroll and exit customers. Idempotent on event id:
    sending a file twice enrolls nobody twice. Invalid lines are reported; the others go in."""
    out = console()
    db = Database(get_settings().resolved_database_url)
    name = "stdin" if file == "-" else Path(file).name
    stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
    total = None if file == "-" else sum(1 for line in open(file, encoding="utf-8") if line.strip())  # noqa: SIM115
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        ) as bar:
            task = bar.add_task(f"events from {name}", total=total)
            report = ingest(
                db,
                read_json_lines(stream),
                now=SystemClock().now(),
                source=source or name,
                on_progress=lambda n: bar.advance(task, n),
            )
    finally:
        if stream is not sys.stdin:
            stream.close()
    for problem in report.rejected:
        out.print(f"[red]✗[/] {problem}")
    for conflict in report.identity_conflicts:
        out.print(f"[yellow]![/] {conflict}")
    for warning in report.warnings:
        out.print(f"[yellow]![/] {warning}")
    out.print(
        f"{len(report.accepted)} accepted, {len(report.duplicates)} already received, "
        f"{report.rejected_events} rejected; {report.enrolled} enrolled, {report.exited} exited, {report.converted} converted"
    )
    if report.rejected_events:
        raise typer.Exit(2 if not report.accepted and not report.duplicates else 1)


@app.command("plan")
def plan_command() -> None:
    """Print the tracking plan: every declared event type, what it means, whether journeys
    may start on it, and the payload fields its schema describes (events.yaml)."""
    settings = get_settings()
    out = console()
    try:
        plan = load_plan(settings.tracking_plan_file)
    except ConfigurationError as exc:
        out.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from exc
    table = Table("type", "starts journeys", "payload fields", "description",
                  title=f"Tracking plan ({settings.tracking_plan_file}, {settings.tracking_plan})",
                  title_justify="left", header_style="bold")  # fmt: skip
    for spec in sorted(plan.events.values(), key=lambda s: s.type):
        table.add_row(spec.type, "yes" if spec.triggers_journeys else "no",
                      ", ".join(payload_fields(spec.schema)) or "—", spec.description)  # fmt: skip
    out.print(table)
    out.print(f"{len(plan.events)} event types declared. Intake refuses others "
              "(TOUCHLINE_TRACKING_PLAN=permissive accepts them with a warning).")  # fmt: skip


@app.command("stats")
def stats_command(
    days: int = typer.Option(0, help="Only events received in the last N days (0: all)."),
) -> None:
    """Events stored per type, and those of types the tracking plan does not declare
    (accepted in permissive mode): declare them in events.yaml or fix their producer."""
    settings = get_settings()
    out = console()
    plan = load_plan(settings.tracking_plan_file)
    db = Database(settings.resolved_database_url)
    since = SystemClock().now() - timedelta(days=days) if days else None
    stats = event_stats(db, plan, since)
    table = Table("type", "events", "last received (UTC)", "in the plan", header_style="bold")
    for row in stats.types:
        table.add_row(row.type, f"{row.events:,}",
                      f"{row.last_received_at:%Y-%m-%d %H:%M}" if row.last_received_at else "",
                      "yes" if row.declared else "[yellow]no[/]")  # fmt: skip
    out.print(table)
    out.print(
        f"{counted(stats.unknown_events, 'event')} of {counted(len(stats.unknown), 'undeclared type')}"
        if stats.unknown
        else "every stored event's type is in the tracking plan"
    )


def payload_fields(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the properties a payload schema lists (``cart.total``)."""
    names: list[str] = []
    for name, sub in (schema.get("properties") or {}).items():
        names.append(f"{prefix}{name}")
        if isinstance(sub, dict) and sub.get("properties"):
            names += payload_fields(sub, f"{prefix}{name}.")
    return names
