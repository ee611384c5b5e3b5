"""touchline launch: send a journey to a segment file."""

from __future__ import annotations

from pathlib import Path

import typer

from touchline.cli.present import console, file_progress
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.errors import JourneyNotFoundError, LaunchError, SegmentFileError
from touchline.launch import LaunchReport, launch

SHOW_PROBLEMS = 20


def launch_command(
    journey: str = typer.Argument(..., help="The journey's key (it must be published)."),
    segment: Path = typer.Option(
        ...,
        "--segment",
        "-s",
        exists=True,
        dir_okay=False,
        readable=True,
        help="A CSV file with a customer_id column; other columns reach templates as segment.*",
    ),
    name: str = typer.Option(
        None,
        help="The launch's name. Default: the file's name and content hash, so the same file "
        "launched again resumes the same launch. Give a name to resume after editing the file.",
    ),
) -> None:
    """Enroll a segment in a journey, in streaming batches. Safe to run again: an interrupted
    launch resumes where it stopped and nobody is enrolled twice. The advance flow sends."""
    out = console()
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    try:
        with file_progress(out, "{task.fields[enrolled]:,} enrolled") as bar:
            task = bar.add_task(f"{journey} ← {segment.name}", total=None, enrolled=0)

            def progress(report: LaunchReport, done: int, size: int) -> None:
                bar.update(task, completed=done, total=size, enrolled=report.enrolled)

            report = launch(
                db,
                journey,
                segment,
                now=SystemClock().now(),
                name=name,
                batch_size=settings.launch_batch_size,
                on_progress=progress,
            )
    except SegmentFileError as exc:
        for problem in exc.problems:
            out.print(f"[red]✗[/] {problem}")
        raise typer.Exit(2) from exc
    except (JourneyNotFoundError, LaunchError) as exc:
        out.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from exc
    _present(report, segment)


def _present(report: LaunchReport, segment: Path) -> None:
    out = console()
    title = f"launch '{report.name}' of {report.journey_key} v{report.journey_version}"
    if report.already_finished and not report.file_changed:
        out.print(
            f"[green]✓[/] {title} had already finished: {report.total_enrolled:,} enrolled from "
            f"{report.skipped_rows:,} rows. Nothing to do."
        )
        return
    if report.file_changed and (report.resumed or report.already_finished):
        out.print(
            f"[yellow]![/] {segment} changed since this launch last ran: read again from the "
            "top; customers already enrolled by it are not enrolled twice."
        )
    elif report.skipped_rows:
        out.print(f"resumed after {report.skipped_rows:,} rows committed by an earlier run")
    for problem in report.rejected[:SHOW_PROBLEMS]:
        out.print(f"[red]✗[/] {segment.name}:{problem}")
    for line, customer in report.unknown_sample[: max(0, SHOW_PROBLEMS - len(report.rejected))]:
        out.print(
            f"[yellow]?[/] {segment.name}:line {line}: no customer '{customer}' in the record"
        )
    hidden = report.rejected_count + report.unknown_customers - SHOW_PROBLEMS
    if hidden > 0:
        out.print(f"… and {hidden:,} more rows like these")
    out.print(
        f"[green]✓[/] {title}: {report.rows_read:,} rows read; [bold]{report.enrolled:,} enrolled[/], "
        f"{report.already_enrolled:,} already enrolled, {report.filtered_out:,} filtered out, "
        f"{report.unknown_customers:,} unknown customers, {report.rejected_count:,} rejected rows. "
        "The advance flow sends their first steps."
    )
