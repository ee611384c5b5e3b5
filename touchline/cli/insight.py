"""touchline insight: RFM segments, the purchase model's scores and backtest, dis-engagement
tripwires, conformance to a journey's design."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pandas as pd
import typer
from rich.markup import escape

from touchline.cli.present import console, frame_table
from touchline.cli.record_db import open_record
from touchline.clock import SystemClock
from touchline.config import get_settings
from touchline.db import Database
from touchline.words import counted

T = TypeVar("T")

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


def horizon_option(default: str = "90d") -> str:
    return typer.Option(  # type: ignore[no-any-return]
        default, "--horizon", help="How far ahead to predict (90d, 13w, 270d)."
    )


def parse_horizon(value: str) -> timedelta:
    from touchline.clock import parse_duration

    try:
        horizon = parse_duration(value)
    except ValueError as exc:
        console().print(f"[red]✗[/] --horizon: {exc}")
        raise typer.Exit(2) from None
    if horizon < timedelta(days=1):
        console().print(f"[red]✗[/] --horizon: '{value}' is less than a day")
        raise typer.Exit(2)
    return horizon


def fit_or_exit(work: Callable[[], T]) -> T:
    """Run a model fit; nothing to fit on is a sentence and exit 1, not a traceback."""
    from touchline.errors import ModelFitError

    try:
        return work()
    except ModelFitError as exc:
        console().print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


@app.command()
def rfm(as_of: str = as_of_option()) -> None:
    """Customers per RFM segment (recency, frequency, monetary quintiles) from purchases."""
    from touchline.insight.purchases import read_purchases
    from touchline.insight.rfm import rfm_table, segment_counts

    settings = get_settings()
    now = parse_as_of(as_of)
    table = rfm_table(read_purchases(open_record(settings), now, settings), now)
    out = console()
    out.print(
        frame_table(
            segment_counts(table),
            title=f"RFM segments as of {now:%Y-%m-%d %H:%M} UTC — {counted(len(table), 'customer')} with "
            f"a purchase ({', '.join(settings.purchase_event_types)})",
        )
    )


def flags_frame(flags: pd.DataFrame) -> pd.DataFrame:
    """The flags as CSV rows: ``customer_id`` first (a segment file as it is)."""
    frame = flags.reset_index()
    frame["last_order_at"] = frame["last_order_at"].map(lambda t: t.isoformat())
    for column in ("p_active", "p_order_in_horizon"):
        frame[column] = frame[column].round(4)
    for column in ("expected_orders_in_horizon", "days_since_last_order"):
        frame[column] = frame[column].round(3)
    frame["usual_days_between_orders"] = frame["usual_days_between_orders"].round(1)
    frame = frame.rename(columns={"new": "new_flag"})
    return frame


def _run_tripwires(as_of: str | None, dry_run: bool, csv: Path | None) -> None:
    from touchline.insight.tripwires import flag_disengaging, horizon_words

    settings = get_settings()
    now = parse_as_of(as_of)
    db = open_record(settings)
    report = fit_or_exit(lambda: flag_disengaging(db, now, settings, dry_run=dry_run))
    out = console()
    if not report.flags.empty:
        shown = report.flags.head(SHOW_FLAGS).reset_index()
        columns = ["customer_id", "evidence", "spent", "rfm_segment", "new"]
        out.print(
            frame_table(shown[columns].assign(spent=shown["spent"].round(2)),
                        title="Valuable customers slipping away", index=False)
        )  # fmt: skip
        if len(report.flags) > SHOW_FLAGS:
            more = f"… and {len(report.flags) - SHOW_FLAGS:,} more"
            out.print(more + ("" if csv else " (all of them: --csv FILE)"))
    if csv is not None:
        write_csv(flags_frame(report.flags), csv)
        out.print(f"[green]✓[/] {len(report.flags):,} flags with their evidence → {csv}")
    model = report.model
    if report.not_fitted:
        out.print(f"[yellow]![/] no purchase model yet: {escape(report.not_fitted)}")
    if model is not None:
        out.print(
            f"purchase model (MBG/NBD) fitted on {counted(model.customers, 'customer')}: "
            f"r={model.r:.3g}, alpha={model.alpha:.3g}, a={model.a:.3g}, b={model.b:.3g}"
        )
    rule = f"P(active) < {settings.tripwire_p_alive_below:g}"
    if settings.tripwire_expected_orders_below is not None:
        rule += (
            f" or < {settings.tripwire_expected_orders_below:g} orders expected "
            f"{horizon_words(settings.tripwire_horizon)}"
        )
    verb = "would flag" if dry_run else "flagged"
    new = len(report.flags) - report.already_flagged if dry_run else report.flagged
    out.print(
        f"as of {now:%Y-%m-%d %H:%M} UTC: {counted(report.customers, 'customer')} with purchases, "
        f"{report.valuable:,} of them valuable, {report.at_risk:,} valuable with {rule}; "
        f"[bold]{verb} {new:,}[/] ({report.already_flagged:,} flagged before for the same silence)"
        + ("" if dry_run else f"; {report.enrolled:,} enrolled")
        + f" in {report.seconds:.1f} s."
    )


@app.command()
def tripwires(
    as_of: str = as_of_option(),
    dry_run: bool = typer.Option(False, "--dry-run", help="Find and show; store nothing."),
    csv: Path = typer.Option(None, "--csv", help="Also write every flag to this CSV file."),
) -> None:
    """Flag valuable customers the purchase model says are slipping away: one
    customer.disengaging event each, through intake (journeys triggered on it enroll).
    Safe to rerun: the same silence is flagged once."""
    _run_tripwires(as_of, dry_run, csv)


@app.command()
def flags(
    csv: Path = typer.Option(..., "--csv", help="Write every flag to this CSV file."),
    as_of: str = as_of_option(),
) -> None:
    """Every customer the tripwires flag as of a date, with the evidence, as CSV (stores
    nothing; customer_id first, so the file is a segment file for `touchline launch`)."""
    _run_tripwires(as_of, True, csv)


@app.command()
def scores(
    csv: Path = typer.Option(..., "--csv", help="Write every customer's scores to this CSV."),
    as_of: str = as_of_option(),
    horizon: str = horizon_option(),
) -> None:
    """Every customer with a purchase: P(active), orders expected and the chance of an order
    within the horizon, RFM scores and segment — as CSV with customer_id first, ready as a
    segment file for `touchline launch`."""
    from touchline.insight.purchases import read_purchases
    from touchline.insight.scores import score_customers, scores_csv_frame

    settings = get_settings()
    now = parse_as_of(as_of)
    ahead = parse_horizon(horizon)
    purchases = read_purchases(open_record(settings), now, settings)
    result = fit_or_exit(lambda: score_customers(purchases, now, ahead))
    write_csv(scores_csv_frame(result), csv)
    table = result.table
    console().print(
        f"[green]✓[/] {counted(len(table), 'customer')} scored as of {now:%Y-%m-%d %H:%M} UTC → {csv}; "
        f"median P(active) {table['p_active'].median():.0%}, "
        f"{(table['p_active'] < settings.tripwire_p_alive_below).sum():,} below "
        f"{settings.tripwire_p_alive_below:g}"
    )


@app.command()
def backtest(
    as_of: str = typer.Option(
        ..., "--as-of", help="Fit on purchases up to this time (ISO 8601; UTC if no zone)."
    ),
    horizon: str = horizon_option("270d"),
    plot: Path = typer.Option(
        None, "--plot", help="The decile chart's PNG (default: <home>/reports/backtest-DATE.png)."
    ),
    budget: int = typer.Option(
        None,
        "--budget",
        min=1,
        help="Judge precision and recall on this many flags (default: as many as the "
        "tripwire thresholds flag).",
    ),
) -> None:
    """Would the scores have predicted who stopped buying? Fit up to --as-of, score
    everyone, compare with who bought within the horizon; the same for days since the last
    purchase as the baseline."""
    from touchline.insight.backtest import SCORES, run_backtest, write_plot
    from touchline.insight.purchases import read_purchases

    settings = get_settings()
    now = parse_as_of(as_of)
    ahead = parse_horizon(horizon)
    out = console()
    # Everything the record holds: to judge the horizon, and to tell when it ends too soon.
    purchases = read_purchases(
        open_record(settings), max(now + ahead, SystemClock().now()), settings
    )
    last = purchases["occurred_at"].max() if not purchases.empty else None
    result = fit_or_exit(
        lambda: run_backtest(
            purchases,
            now,
            ahead,
            p_active_below=settings.tripwire_p_alive_below,
            expected_orders_below=settings.tripwire_expected_orders_below,
            budget=budget,
        )
    )
    labels = {"model": "purchase model (MBG/NBD)", "recency": "days since last purchase"}
    rows = pd.DataFrame(
        [
            {"score": labels[name], "ROC AUC": round(r.auc, 3),
             f"precision @ {result.budget:,}": round(r.precision, 3),
             f"recall @ {result.budget:,}": round(r.recall, 3)}
            for name, r in ((n, result.results[n]) for n in SCORES)
        ]
    )  # fmt: skip
    out.print(
        f"Backtest: fitted on {counted(result.customers, 'customer')}' purchases up to {now:%Y-%m-%d}; "
        f"{result.lapsed:,} ({result.lapse_rate:.0%}) bought nothing in the next {counted(ahead.days, 'day')}."
    )
    out.print(frame_table(rows, index=False))
    end = pd.Timestamp(now + ahead)
    # The last purchase a few days before the horizon's end is normal; weeks are not.
    if last is None or last < end - max(pd.Timedelta(days=7), pd.Timedelta(ahead) * 0.05):
        out.print(
            f"[yellow]![/] the record's purchases end on {last:%Y-%m-%d}, before the horizon "
            f"does ({end:%Y-%m-%d}): customers who bought after that count as lapsed"
            if last is not None
            else "[yellow]![/] no purchases in the record"
        )
    path = plot or settings.home / "reports" / f"backtest-{now:%Y-%m-%d}.png"
    write_plot(result, path)
    out.print(f"[green]✓[/] lapse rate per score decile → {path}")


@app.command()
def conformance(
    journey: str = typer.Argument(None, help="A journey key; default: every journey."),
) -> None:
    """How many enrollments followed their journey version's designed path, and where the
    others first left it."""
    settings = get_settings()
    report = check_and_print(open_record(settings), journey)
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
