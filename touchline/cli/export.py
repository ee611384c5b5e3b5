"""touchline export: the record in other shapes (an event log for process mining)."""

from __future__ import annotations

from pathlib import Path

import typer

from touchline.cli.present import console
from touchline.cli.record_db import open_record
from touchline.config import get_settings
from touchline.words import counted

app = typer.Typer(help="The record in other shapes.", no_args_is_help=True)
FORMATS = ("csv", "parquet", "xes")
CASES = ("enrollment", "customer")


@app.command()
def eventlog(
    out: Path = typer.Argument(..., dir_okay=False, help="The file to write."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, parquet or xes (IEEE 1849)."),
    case: str = typer.Option("enrollment", help="What a case is: enrollment or customer."),
    journey: str = typer.Option(None, help="Only this journey (its key)."),
    conformance: bool = typer.Option(
        True, help="Also print how many enrollments followed their journey's designed path."
    ),
) -> None:
    """Write the interaction record as an event log: case, activity, timestamp, channel,
    resource — one row per entry, touch outcome, engagement, conversion and end."""
    from touchline.cli.insight import check_and_print
    from touchline.insight.eventlog import export_event_log

    output = console()
    if fmt not in FORMATS:
        output.print(f"[red]✗[/] --format: '{fmt}'; use one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    if case not in CASES:
        output.print(f"[red]✗[/] --case: '{case}'; use one of {', '.join(CASES)}")
        raise typer.Exit(2)
    if not out.parent.is_dir():
        output.print(f"[red]✗[/] {out.parent} is not a folder")
        raise typer.Exit(2)
    if fmt == "xes":
        from touchline.errors import MissingExtraError
        from touchline.insight.eventlog import require_pm4py

        try:
            require_pm4py()
        except MissingExtraError as exc:
            from rich.markup import escape

            output.print(f"[red]✗[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
    db = open_record(get_settings())
    with output.status(f"writing {out}"):
        report = export_event_log(db, out, fmt, case=case, journey=journey)  # type: ignore[arg-type]
    output.print(
        f"[green]✓[/] {out}: {counted(report.events, 'event')} in {counted(report.cases, 'case')} "
        f"({case}s{f' of {journey}' if journey else ''}), {fmt}"
    )
    if conformance:
        check_and_print(db, journey)
