"""touchline journeys: validate and publish journey definitions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from touchline.cli.present import console
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.errors import JourneyValidationError
from touchline.journeys import journey_files, load_journeys
from touchline.journeys.store import publish

app = typer.Typer(help="Journey definitions (YAML in journeys/).", no_args_is_help=True)


def _load(files: list[Path] | None):  # type: ignore[no-untyped-def]
    settings = get_settings()
    paths = files or journey_files(settings.journeys_dir)
    if not paths:
        raise typer.BadParameter(f"no journey files in {settings.journeys_dir}")
    try:
        return load_journeys(paths, TemplateCatalog(settings.templates_dir))
    except JourneyValidationError as exc:
        out = console()
        for problem in exc.problems:
            out.print(f"[red]✗[/] {problem}")
        raise typer.Exit(1) from exc


@app.command()
def validate(
    files: list[Path] = typer.Argument(
        None, help="Journey files (default: every file in journeys/)."
    ),
) -> None:
    """Check journeys: schema, step references, loops, templates. Names file, line and field."""
    for journey in _load(files):
        d = journey.definition
        console().print(
            f"[green]✓[/] {journey.source}: {d.key} — {len(d.steps)} steps, trigger {d.trigger.event}"
        )


@app.command("publish")
def publish_command(
    files: list[Path] = typer.Argument(
        None, help="Journey files (default: every file in journeys/)."
    ),
) -> None:
    """Publish journeys: a changed definition becomes a new version; in-flight enrollments keep theirs."""
    loaded = _load(files)
    db = Database(get_settings().resolved_database_url)
    table = Table("journey", "version", "change", header_style="bold")
    with db.session() as session:
        for journey in loaded:
            result = publish(session, journey, SystemClock().now())
            table.add_row(
                result.key,
                str(result.version),
                "[green]new version[/]" if result.created else "unchanged",
            )
    console().print(table)
