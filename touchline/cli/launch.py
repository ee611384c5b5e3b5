"""touchline launch: send a journey to a segment file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from touchline.cli.present import console, file_progress
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.errors import JourneyNotFoundError, LaunchError, SegmentFileError
from touchline.launch import LaunchReport, launch
from touchline.launch.reach import Reach, reach
from touchline.launch.schedule import schedule_launch
from touchline.words import counted

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
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print the reach (rows, unknown customers, already enrolled, held out, and per "
        "channel who would be skipped now and why) without enrolling anyone.",
    ),
    at: datetime = typer.Option(
        None,
        "--at",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M%z"],
        help="Launch later: a scheduled run of the launch-campaign Prefect deployment at this "
        "time (ISO 8601 with a time zone, e.g. 2026-12-01T09:00:00+01:00).",
    ),
    allow_rejects: bool = typer.Option(
        False,
        "--allow-rejects",
        help="Exit 0 even when rows of the file were rejected (the others are enrolled either way).",
    ),
) -> None:
    """Enroll a segment in a journey, in streaming batches. Safe to run again: an interrupted
    launch resumes where it stopped and nobody is enrolled twice. The advance flow sends.
    Exits 1 when rows were rejected (unless --allow-rejects), 2 when nothing could be done."""
    out = console()
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    now = SystemClock().now()
    if dry_run:
        _dry_run(db, journey, segment, name, allow_rejects)
        return
    if at is not None:
        try:
            scheduled = schedule_launch(journey, segment, at, now=now, name=name)
        except LaunchError as exc:
            out.print(f"[red]✗[/] {exc}")
            raise typer.Exit(2) from exc
        out.print(
            f"[green]✓[/] launch of {journey} ← {segment.name} scheduled for "
            f"{scheduled.at.isoformat()}: flow run '{scheduled.flow_run_name}' "
            f"({scheduled.flow_run_id}) of {scheduled.deployment}; cancel or move it in the Prefect UI"
        )
        return
    try:
        with file_progress(out, "{task.fields[enrolled]:,} enrolled") as bar:
            task = bar.add_task(f"{journey} ← {segment.name}", total=None, enrolled=0)

            def progress(report: LaunchReport, done: int, size: int) -> None:
                bar.update(task, completed=done, total=size, enrolled=report.enrolled)

            report = launch(
                db,
                journey,
                segment,
                now=now,
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
    if report.rejected_count and not allow_rejects:
        out.print(
            f"[red]✗[/] {report.rejected_count:,} row{'s' if report.rejected_count != 1 else ''} "
            "rejected (fix them and launch again: "
            "nobody is enrolled twice; or pass --allow-rejects)"
        )
        raise typer.Exit(1)


def _dry_run(
    db: Database, journey: str, segment: Path, name: str | None, allow_rejects: bool
) -> None:
    out = console()
    try:
        found = reach(
            db, journey, segment, now=SystemClock().now(), settings=get_settings(), name=name
        )
    except SegmentFileError as exc:
        for problem in exc.problems:
            out.print(f"[red]✗[/] {problem}")
        raise typer.Exit(2) from exc
    except (JourneyNotFoundError, LaunchError) as exc:
        out.print(f"[red]✗[/] {exc}")
        raise typer.Exit(2) from exc
    for line in reach_lines(found, segment.name):
        out.print(line)
    if found.rejected_count and not allow_rejects:
        raise typer.Exit(1)


def reach_lines(found: Reach, file: str) -> list[str]:
    """The dry run's report: every row accounted for, then what the first step would do."""
    lines = [f"[red]✗[/] {file}:{problem}" for problem in found.rejected[:SHOW_PROBLEMS]]
    lines += [
        f"[yellow]?[/] {file}:line {line}: no customer '{customer}' in the record"
        for line, customer in found.unknown_sample[: max(0, SHOW_PROBLEMS - len(found.rejected))]
    ]
    hidden = found.rejected_count + found.unknown_customers - SHOW_PROBLEMS
    if hidden > 0:
        lines.append(f"… and {hidden:,} more rows like these")
    lines += [
        f"[bold]Dry run[/] of launch '{found.launch_name}' of {found.journey_key} "
        f"v{found.journey_version} — nothing was enrolled:",
        f"  {counted(found.rows, 'row')} in {file}",
        f"  {found.rejected_count:,} rejected rows",
        f"  {found.unknown_customers:,} unknown customers",
        f"  {found.listed_twice:,} listed twice (enter once)",
        f"  {found.already_enrolled:,} already enrolled",
        f"  {found.filtered_out:,} filtered out (trigger filter, re-entry window)",
        f"  {found.held_out:,} held out (control group)",
        f"  [bold]{found.would_enter:,} would enter[/]",
    ]
    if found.first_step is None:
        return lines
    lines.append(f"First send step '{found.first_step}', decided now:")
    for channel in sorted(set(found.sent_now) | set(found.deferred) | set(found.skipped)):
        skipped = found.skipped.get(channel, {})
        detail = ", ".join(f"{n:,} {check}" for check, n in sorted(skipped.items())) or "none"
        lines.append(
            f"  {channel}: {found.sent_now[channel]:,} now, {found.deferred[channel]:,} later "
            f"(quiet hours, best time); skipped on {channel}: {detail}"
        )
    lines.append(
        f"  {found.capped:,} skipped for the frequency cap; "
        f"{found.nothing_sendable:,} with no channel at all"
    )
    return lines


def _present(report: LaunchReport, segment: Path) -> None:
    out = console()
    title = f"launch '{report.name}' of {report.journey_key} v{report.journey_version}"
    if report.already_finished and not report.file_changed:
        out.print(
            f"[green]✓[/] {title} had already finished: {report.total_enrolled:,} enrolled from "
            f"{counted(report.skipped_rows, 'row')}. Nothing to do."
        )
        return
    if report.file_changed and (report.resumed or report.already_finished):
        out.print(
            f"[yellow]![/] {segment} changed since this launch last ran: read again from the "
            "top; customers already enrolled by it are not enrolled twice."
        )
    elif report.skipped_rows:
        out.print(
            f"resumed after {counted(report.skipped_rows, 'row')} committed by an earlier run"
        )
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
        f"[green]✓[/] {title}: {counted(report.rows_read, 'row')} read; [bold]{report.enrolled:,} enrolled[/], "
        f"{report.already_enrolled:,} already enrolled, {report.filtered_out:,} filtered out, "
        f"{report.unknown_customers:,} unknown customers, {report.rejected_count:,} rejected rows. "
        "The advance flow sends their first steps."
    )
