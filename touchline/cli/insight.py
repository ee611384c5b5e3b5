"""touchline insight: RFM segments, dis-engagement tripwires, conformance to a journey's design."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from touchline.cli.present import console, frame_table
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database

app = typer.Typer(help="What the record says: RFM, tripwires, conformance.", no_args_is_help=True)
SHOW_FLAGS = 20


def as_of_option() -> datetime | None:
    return typer.Option(
        None, "--as-of", help="As of this time (ISO 8601; UTC if no zone; default now)."
    )  # type: ignore[no-any-return]


def parse_as_of(value: str | None) -> datetime:
    if value is None:
        return SystemClock().now()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        console().print(f"[red]✗[/] --as-of: '{value}' is not an ISO 8601 time")
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def rfm(as_of: str = as_of_option()) -> None:
    """Customers per RFM segment (recency, frequency, monetary quintiles) from purchases."""
    from touchline.insight.purchases import read_purchases
    from touchline.insight.rfm import rfm_table, segment_counts

    settings = get_settings()
    now = parse_as_of(as_of)
    table = rfm_table(read_purchases(Database(settings.resolved_database_url), now, settings), now)
    out = console()
    out.print(
        frame_table(
            segment_counts(table),
            title=f"RFM segments as of {now:%Y-%m-%d %H:%M} UTC — {len(table):,} customers with "
            f"a purchase ({', '.join(settings.purchase_event_types)})",
        )
    )


@app.command()
def tripwires(
    as_of: str = as_of_option(),
    dry_run: bool = typer.Option(False, "--dry-run", help="Find and show; store nothing."),
) -> None:
    """Flag valuable customers silent for longer than their own rhythm: one
    customer.disengaging event each, through intake (journeys triggered on it enroll).
    Safe to rerun: the same silence is flagged once."""
    from touchline.insight.tripwires import flag_disengaging

    settings = get_settings()
    now = parse_as_of(as_of)
    report = flag_disengaging(
        Database(settings.resolved_database_url), now, settings, dry_run=dry_run
    )
    out = console()
    if not report.flags.empty:
        shown = report.flags.head(SHOW_FLAGS).reset_index()
        columns = ["customer_id", "last_purchase_at", "expected_interval_days", "silence_days",
                   "purchases", "monetary", "r", "f", "m", "segment", "new"]  # fmt: skip
        shown = shown[[c for c in columns if c in shown]].assign(
            last_purchase_at=lambda f: f["last_purchase_at"].dt.strftime("%Y-%m-%d"),
            expected_interval_days=lambda f: f["expected_interval_days"].round(1),
            silence_days=lambda f: f["silence_days"].round(1),
        )
        out.print(frame_table(shown, title="Valuable customers gone quiet", index=False))
        if len(report.flags) > SHOW_FLAGS:
            out.print(f"… and {len(report.flags) - SHOW_FLAGS:,} more")
    verb = "would flag" if dry_run else "flagged"
    new = len(report.flags) - report.already_flagged if dry_run else report.flagged
    out.print(
        f"as of {now:%Y-%m-%d %H:%M} UTC: {report.customers:,} customers with purchases, "
        f"{report.with_rhythm:,} with a rhythm (≥ {settings.tripwire_min_purchases} purchases), "
        f"{report.valuable:,} of them valuable, {report.overdue:,} silent beyond "
        f"{settings.tripwire_sensitivity:g}× their interval; [bold]{verb} {new:,}[/] "
        f"({report.already_flagged:,} flagged before for the same silence)"
        + ("" if dry_run else f"; {report.enrolled:,} enrolled")
        + f" in {report.seconds:.1f} s."
    )


@app.command()
def conformance(
    journey: str = typer.Argument(None, help="A journey key; default: every journey."),
) -> None:
    """How many enrollments followed their journey version's designed path, and where the
    others first left it."""
    settings = get_settings()
    report = check_and_print(Database(settings.resolved_database_url), journey)
    if report.enrollments.total() == 0:
        raise typer.Exit(1)


def check_and_print(db: Database, journey: str | None):  # type: ignore[no-untyped-def]
    from touchline.insight.conformance import check_conformance

    report = check_conformance(db, journey)
    out = console()
    if report.enrollments.total() == 0:
        out.print(f"no enrollments{f' in {journey}' if journey else ''}")
        return report
    summary = report.summary()
    summary["conformance"] = summary["conformance"].map(lambda v: f"{v:.1%}")
    out.print(frame_table(summary, title="Conformance to the designed path", index=False))
    deviations = report.deviation_table()
    if not deviations.empty:
        out.print(frame_table(deviations, title="First deviations", index=False))
    return report
