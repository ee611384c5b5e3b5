"""touchline journeys: validate, publish, draw and dry-run journey definitions."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from touchline.cli.present import console
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.errors import ConfigurationError, JourneyValidationError
from touchline.intake.tracking_plan import load_plan
from touchline.journeys import LoadedJourney, journey_files, load_journey, load_journeys
from touchline.journeys.attributes import check_attributes, load_catalogue
from touchline.journeys.store import publish
from touchline.words import counted

if TYPE_CHECKING:
    from touchline.demo.dry_run import DryRunResult

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
    """Check journeys: schema, step references, loops, templates, the attributes templates
    read (attributes.yaml) and the event types named (events.yaml). Names file, line and field."""
    loaded = _load(files)
    if not check_declarations(loaded):
        raise typer.Exit(1)
    for journey in loaded:
        d = journey.definition
        console().print(
            f"[green]✓[/] {journey.source}: {d.key} — {counted(len(d.steps), 'step')}, trigger: {d.trigger.describe()}"
        )


def check_declarations(loaded: list[LoadedJourney]) -> bool:
    """The event types (tracking plan) and attributes (catalogue) journeys name; prints
    each problem and says whether there were none."""
    settings = get_settings()
    out = console()
    try:
        plan = load_plan(settings.tracking_plan_file)
        catalogue = load_catalogue(settings.attributes_file)
    except ConfigurationError as exc:
        out.print(f"[red]✗[/] {escape(str(exc))}")
        return False
    catalog = TemplateCatalog(settings.templates_dir)
    clean = True
    for journey in loaded:
        problems = plan.journey_problems(journey.definition) + check_attributes(
            journey.definition, catalog, catalogue, plan
        )
        for problem in problems:
            clean = False
            out.print(f"[red]✗[/] {escape(str(journey.source))}: {escape(str(problem))}")
    return clean


@app.command("publish")
def publish_command(
    files: list[Path] = typer.Argument(
        None, help="Journey files (default: every file in journeys/)."
    ),
) -> None:
    """Publish journeys: a changed definition becomes a new version; in-flight enrollments keep theirs."""
    loaded = _load(files)
    if not check_declarations(loaded):
        raise typer.Exit(1)
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


def _find(journey: str) -> LoadedJourney:
    """A journey by key (a file in journeys/ declaring it) or by path to a YAML file.

    Files are loaded one by one, so a broken journey elsewhere does not hide this one; its
    problems are shown only if it may be the one asked for.
    """
    settings = get_settings()
    catalog = TemplateCatalog(settings.templates_dir)
    out = console()
    path = Path(journey)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            out.print(f"[red]✗[/] no journey file {escape(str(path))}")
            raise typer.Exit(1)
        try:
            return load_journey(path, catalog)
        except JourneyValidationError as exc:
            _print_problems(exc)
            raise typer.Exit(1) from exc
    found: list[LoadedJourney] = []
    broken: dict[Path, JourneyValidationError] = {}
    for file in journey_files(settings.journeys_dir):
        try:
            found.append(load_journey(file, catalog))
        except JourneyValidationError as exc:
            broken[file] = exc
    for loaded in found:
        if loaded.definition.key == journey:
            return loaded
    for file, exc in broken.items():
        if file.stem == journey:  # most likely the one asked for, but it does not load
            _print_problems(exc)
            raise typer.Exit(1)
    known = ", ".join(sorted(j.definition.key for j in found)) or "none"
    out.print(
        f"[red]✗[/] no journey '{escape(journey)}' in {settings.journeys_dir} (journeys: {known}"
        + (
            f"; {len(broken)} file(s) that do not load: run touchline journeys validate"
            if broken
            else ""
        )
        + "). Give a key or a path to a YAML file."
    )
    raise typer.Exit(1)


def _print_problems(exc: JourneyValidationError) -> None:
    out = console()
    for problem in exc.problems:
        out.print(f"[red]✗[/] {escape(str(problem))}")


@app.command()
def graph(
    journey: str = typer.Argument(..., help="A journey key (from journeys/) or a YAML file."),
    out: Path = typer.Option(
        None, "--out", help="Folder for <key>.mmd and <key>.png (default: .touchline/graphs)."
    ),
) -> None:
    """Draw a journey: Mermaid flowchart on stdout (and in <key>.mmd), a PNG beside it."""
    from touchline.journeys.graph import build_graph

    loaded = _find(journey)
    folder = out or get_settings().home / "graphs"
    key = loaded.definition.key
    drawing = build_graph(loaded.definition)
    mermaid = drawing.to_mermaid()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{key}.mmd").write_text(mermaid, encoding="utf-8")
        png = drawing.render_png(folder / f"{key}.png")
    except OSError as exc:
        console().print(f"[red]✗[/] cannot write to {escape(str(folder))}: {exc.strerror}")
        raise typer.Exit(1) from exc
    # The Mermaid text alone on stdout (pipe it to a file or a renderer); the rest on stderr.
    typer.echo(mermaid, nl=False)
    status = console(stderr=True)
    status.print(f"[green]✓[/] {escape(str(folder / f'{key}.mmd'))}")
    status.print(f"[green]✓[/] {escape(str(png))}")


@app.command()
def simulate(
    journey: str = typer.Argument(..., help="A journey key (from journeys/) or a YAML file."),
    customers: int = typer.Option(
        500, "--customers", min=1, max=50_000, help="Synthetic customers."
    ),
    days: int = typer.Option(3, "--days", min=1, max=60, help="Simulated days."),
    seed: int = typer.Option(7, "--seed", help="Seed of the audience, its events and engagement."),
) -> None:
    """Dry-run a journey: synthetic customers, a temporary record, emulated providers, days
    in seconds. Prints the funnel, touches, skips, endings and conversions; sends nothing real."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from touchline.demo.dry_run import DEFAULT_START, dry_run

    loaded = _find(journey)
    out = console()
    start = DEFAULT_START
    hours = days * 24
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[at]}"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task(
            f"{loaded.definition.key}: {counted(customers, 'customer')}", total=hours, at=""
        )

        def progress(at: datetime) -> None:
            done = (at - start).total_seconds() / 3600
            bar.update(task, completed=min(done, hours), at=f"{at:%a %d %b %H:%M} UTC")

        result = dry_run(
            loaded, customers=customers, days=days, seed=seed, start=start, on_progress=progress
        )
    print_dry_run(out, result)
    if result.problems or not result.consistent:
        raise typer.Exit(1)


def print_dry_run(out: Console, result: DryRunResult) -> None:
    """The dry run's figures, every one counted from the temporary interaction record."""
    _print_headline(out, result)
    # The bar column only where there is room for it (a wide terminal).
    out.print(_funnel_table(result, bar=out.width >= 120))
    out.print(_touch_table(result))
    out.print("[dim]deferred: sent later than decided (quiet hours, best send time)[/]")
    if result.skips or result.failures:
        out.print(_reasons_table(result))
    out.print(_endings_table(result))
    _print_conversions(out, result)
    _print_cross_check(out, result)


def _print_headline(out: Console, result: DryRunResult) -> None:
    entered = result.enrolled
    out.print(
        f"\n[bold]Dry run of {escape(result.journey_name)}[/] ({result.journey_key}): "
        f"{counted(result.customers, 'synthetic customer')} over {counted(result.days, 'day')} from "
        f"{result.start:%a %d %b %Y %H:%M} UTC, seed {result.seed}; {result.wall_seconds:.1f} s. "
        "Emulated providers only; the temporary record is gone."
    )
    later = ", ".join(
        f"{n:,} {t}" for t, n in sorted(result.events.items()) if t != result.trigger_event
    )
    not_entered = result.triggers - entered
    out.print(
        (
            f"{counted(result.triggers, 'customer')} launched as one segment → [bold]{entered:,} entered[/]"
            if result.launched
            else f"{counted(result.triggers, f'{result.trigger_event} event')} → [bold]{entered:,} entered[/]"
        )
        + (f" ({not_entered:,} did not: trigger filter or re-entry rule)" if not_entered else "")
        + (
            f"; {result.holdout:,} of them in the holdout ({_pct(result.holdout, entered)})"
            if result.holdout
            else ""
        )
        + (f". Later events: {later}." if later else ".")
    )


def _table(title: str, left: tuple[str, ...], right: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in left:
        # Ids stay whole; only a reason (long, free text) wraps.
        table.add_column(name, overflow="fold", no_wrap=name != "reason")
    for name in right:
        table.add_column(name, justify="right")
    return table


def _funnel_table(result: DryRunResult, bar: bool) -> Table:
    entered = result.enrolled
    table = _table(
        f"Funnel: enrollments that reached each step (of {entered:,} entered)",
        ("step", "kind"),
        ("reached", "% entered"),
    )
    if bar:
        table.add_column("")
    outcomes = ("sent", "skipped", "failed", "pending")
    for name in (*outcomes, "ended here", "still there"):
        table.add_column(name, justify="right")
    for row in result.funnel:
        share = row.reached / entered if entered else 0.0
        table.add_row(
            row.step_id,
            row.kind,
            f"{row.reached:,}",
            f"{100 * share:.1f}%",
            *([f"[cyan]{'█' * round(20 * share)}[/]"] if bar else []),
            *(str(row.outcomes.get(k, 0)) if row.outcomes else "" for k in outcomes),
            str(row.ended_here or ""),
            str(row.waiting_here or ""),
        )
    return table


def _touch_table(result: DryRunResult) -> Table:
    outcomes = ("sent", "failed", "skipped", "pending")
    levels = ("delivered", "opened", "clicked", "bounced", "undelivered")
    table = _table("Touches by channel and outcome", ("channel",), (*outcomes, "deferred", *levels))
    for channel in sorted({c for c, _ in result.touches}, key=lambda c: (c == "-", c)):
        table.add_row(
            "(none chosen)" if channel == "-" else channel,
            *(str(result.touches.get((channel, o), 0)) for o in outcomes),
            str(result.deferred.get(channel, 0)),
            *(str(result.engagement.get((channel, k), 0)) for k in levels),
        )
    return table


def _reasons_table(result: DryRunResult) -> Table:
    table = _table("Skips and failures by reason", ("step", "outcome", "reason"), ("touches",))
    for outcome, counts in (("skipped", result.skips), ("failed", result.failures)):
        style = "yellow" if outcome == "skipped" else "red"
        for (step, reason), n in sorted(counts.items(), key=lambda x: (x[0][0], -x[1])):
            table.add_row(step, f"[{style}]{outcome}[/]", escape(reason), f"{n:,}")
    return table


def _endings_table(result: DryRunResult) -> Table:
    table = _table("How enrollments ended", ("status", "reason"), ("enrollments", "% entered"))
    for (status, reason), n in sorted(result.endings.items(), key=lambda x: -x[1]):
        table.add_row(status, escape(reason), f"{n:,}", _pct(n, result.enrolled))
    return table


def _print_conversions(out: Console, result: DryRunResult) -> None:
    if result.goal is None:
        out.print("[bold]Conversions[/]: the journey has no goal")
        return
    line = (
        f"[bold]Conversions[/] ({result.goal}): {result.conversions:,} "
        f"({_pct(result.conversions, result.enrolled)} of entered)"
    )
    if result.revenue:
        line += f", revenue {result.revenue:,.2f}"
    treated, held = result.conversion_rate(holdout=False), result.conversion_rate(holdout=True)
    if treated is not None and held is not None:
        # Shown to check the holdout works, not to read a lift: the synthetic customers'
        # orders are drawn without regard to what they were sent.
        line += (
            f"; treated {100 * treated:.1f}% vs holdout {100 * held:.1f}% "
            "[dim](synthetic buyers ignore messages: no lift to read here)[/]"
        )
    out.print(line)


def _print_cross_check(out: Console, result: DryRunResult) -> None:
    def mark(ok: bool) -> str:
        return "[green]✓[/]" if ok else "[red]✗[/]"

    for channel, provider in (("email", "SendGrid"), ("sms", "Twilio")):
        accepted, sent = result.emulator_accepted.get(channel, 0), result.sent.get(channel, 0)
        out.print(
            f"{mark(accepted == sent)} the {provider} emulator accepted {accepted:,}; "
            f"the record says {sent:,} {channel} sent"
        )
    duplicates = result.duplicate_touches
    out.print(f"{mark(not duplicates)} touches accepted twice by a provider: {duplicates}")
    for problem in result.problems:
        out.print(f"[red]✗[/] {escape(problem)}")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"
