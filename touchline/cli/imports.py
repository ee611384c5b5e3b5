"""touchline import: history from files into the record (purchases)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from touchline.cli.present import console, file_progress
from touchline.cli.record_db import open_record
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.errors import ValidationError
from touchline.words import counted

app = typer.Typer(help="History from files into the record.", no_args_is_help=True)
SHOW_PROBLEMS = 20


@app.command()
def purchases(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="A CSV file."
    ),
    customer: str = typer.Option(..., help="The column holding the customer id."),
    date: str = typer.Option(..., help="The column holding the purchase time (ISO 8601)."),
    amount: str = typer.Option(..., help="The column holding the amount (1234.50)."),
    currency: str = typer.Option(None, help="The column holding the currency, if any."),
    id_column: str = typer.Option(
        None, "--id", help="The column holding the order id (else ids derive from the row)."
    ),
    timezone: str = typer.Option(
        None, help="The time zone of dates written without one (e.g. Europe/Paris)."
    ),
    event_type: str = typer.Option(
        None,
        "--type",
        help="The events' type; default: the first of TOUCHLINE_PURCHASE_EVENT_TYPES.",
    ),
) -> None:
    """Load purchase history, one purchase event per row, through intake in batches. Bad rows
    are named by line and skipped; the rest goes in. Running it again loads nothing twice."""
    from touchline.insight.purchase_file import (
        PurchaseColumns,
        PurchaseImportReport,
        import_purchases,
    )

    out = console()
    settings = get_settings()
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            out.print(f"[red]✗[/] --timezone: '{timezone}' is not a time zone (e.g. Europe/Paris)")
            raise typer.Exit(2) from None
    kind = event_type or settings.purchase_event_types[0]
    if kind not in settings.purchase_event_types:
        out.print(
            f"[yellow]![/] '{kind}' is not in TOUCHLINE_PURCHASE_EVENT_TYPES "
            f"({', '.join(settings.purchase_event_types)}): RFM and tripwires will not count it"
        )
    columns = PurchaseColumns(customer, date, amount, currency, id_column)
    db = open_record(settings)
    try:
        with file_progress(
            out, "{task.fields[loaded]:,} rows, {task.fields[rejected]:,} rejected"
        ) as bar:
            task = bar.add_task(f"purchases ← {file.name}", total=None, loaded=0, rejected=0)

            def progress(report: PurchaseImportReport, done: int, size: int) -> None:
                bar.update(task, completed=done, total=size, loaded=report.rows_read,
                           rejected=report.rejected_count)  # fmt: skip

            report = import_purchases(
                db, file, columns, now=SystemClock().now(), event_type=kind, timezone=timezone,
                on_progress=progress, settings=settings,
            )  # fmt: skip
    except ValidationError as exc:
        for problem in exc.problems:
            out.print(f"[red]✗[/] {problem}")
        raise typer.Exit(2) from exc
    for row in report.rejected[:SHOW_PROBLEMS]:
        out.print(f"[red]✗[/] {file.name}:{row}")
    if report.rejected_count > SHOW_PROBLEMS:
        out.print(f"… and {report.rejected_count - SHOW_PROBLEMS:,} more rejected rows")
    for row in report.duplicates[:SHOW_PROBLEMS]:
        out.print(f"[yellow]=[/] {file.name}:line {row.line}: not loaded again: {row.reason}")
    if len(report.duplicates) > SHOW_PROBLEMS:
        out.print(f"… and {len(report.duplicates) - SHOW_PROBLEMS:,} more rows loaded before")
    out.print(
        f"[green]✓[/] {file.name}: {counted(report.rows_read, 'row')} read; [bold]{report.loaded:,} "
        f"purchases loaded[/] as {report.event_type}, {report.already_loaded:,} already loaded, "
        f"{report.rejected_count:,} rejected; {report.enrolled:,} enrolled, "
        f"{report.exited:,} exited, {report.converted:,} converted."
    )
    if report.rejected_count:
        raise typer.Exit(1)
