"""touchline events: send events into Touchline."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from touchline.cli.present import console
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.intake import ingest, read_json_lines

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
    out.print(
        f"{len(report.accepted)} accepted, {len(report.duplicates)} already received, "
        f"{report.rejected_events} rejected; {report.enrolled} enrolled, {report.exited} exited, {report.converted} converted"
    )
    if report.rejected_events:
        raise typer.Exit(2 if not report.accepted and not report.duplicates else 1)
