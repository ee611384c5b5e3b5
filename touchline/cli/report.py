"""touchline report JOURNEY: the funnel, the lift against the holdout, split variants and
attribution, as tables on the terminal and PNG charts in a folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from touchline.cli.present import console, frame_table
from touchline.cli.record_db import open_record
from touchline.config import get_settings
from touchline.errors import JourneyNotFoundError
from touchline.reports.journey import MIN_GROUP, JourneyReport, build_report


def report(
    journey: str = typer.Argument(..., help="The journey's key (e.g. cart_abandonment)."),
    out: Path = typer.Option(
        None, "--out", help="Folder for the PNG charts (default: .touchline/reports/<journey>)."
    ),
    since: str = typer.Option(
        None,
        "--since",
        help="Only enrollments that entered at or after this time (ISO 8601; UTC if no zone).",
    ),
    min_group: int = typer.Option(
        MIN_GROUP, "--min-group", min=2, help="Fewest enrollments a group needs for a lift."
    ),
) -> None:
    """A journey's funnel per step and channel, conversion and revenue in treatment vs
    holdout with the lift and its 95% interval, each split's variants, and which channels
    get the credit for the conversions. Writes funnel.png, conversion.png, attribution.png."""
    from touchline.reports.charts import default_folder, write_charts

    start = _since(since)
    settings = get_settings()
    db = open_record(settings)
    try:
        with db.session() as session:
            result = build_report(session, journey, start, min_group)
    except JourneyNotFoundError as exc:
        console().print(f"[red]✗[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    print_report(console(), result)
    folder = out or default_folder(settings.home, journey)
    try:
        charts = write_charts(result, folder)
    except OSError as exc:
        console().print(f"[red]✗[/] cannot write to {escape(str(folder))}: {exc.strerror}")
        raise typer.Exit(1) from exc
    for path in charts.written:
        console().print(f"[green]✓[/] {escape(str(path))}")
    for name, why in charts.skipped.items():
        console().print(f"[dim]– {name}.png not drawn: {why}[/]")


def print_report(out: Console, result: JourneyReport) -> None:
    for line in result.headline:
        out.print(escape(line))
    out.print()
    out.print(frame_table(_outcomes(result.outcomes), "Treatment vs holdout"))
    out.print(frame_table(_lift(result.lift), "Lift (a − b), 95% intervals", index=False))
    if not result.funnel.empty:
        out.print(
            frame_table(
                _unreported(result.funnel, result.silent_channels),
                "Funnel per step and channel (converted: enrollments converting after the touch)",
            )
        )
        if result.silent_channels:
            out.print(
                f"[yellow]![/] no engagement webhooks received for "
                f"{', '.join(result.silent_channels)}: delivered, opened and clicked are "
                "unknown (–), not zero. Check the providers' webhook settings (docs: README, "
                "Running it for real)."
            )
    else:
        out.print("[dim]Funnel: no touch was sent.[/]")
    if not result.not_sent.empty:
        out.print(
            frame_table(
                result.not_sent,
                "Not sent as decided: skipped, failed and deferred touches, with reasons",
                index=False,
            )
        )
    if not result.variants.empty:
        out.print(
            frame_table(_outcomes(result.variants), "Split variants (holdout: reached the split)")
        )
    if not result.attribution.empty:
        out.print(
            frame_table(_credits(result.attribution), "Attribution of conversions per channel")
        )
        out.print(
            "[dim]Path: touches of any journey sent within the goal window before the conversion. "
            "Position-based: 40% first, 40% last, 20% shared by the touches between "
            "(one touch 100%, two 50/50).[/]"
        )


def _unreported(funnel: pd.DataFrame, silent: list[str]) -> pd.DataFrame:
    """The funnel with "–" where a channel's engagement was never reported."""
    if not silent:
        return funnel
    shown = funnel.copy()
    rows = shown.index.get_level_values("channel").isin(silent)
    for column in ("delivered", "opened", "clicked"):
        shown[column] = [
            "–" if hidden else f"{value:,}"
            for hidden, value in zip(rows, funnel[column], strict=True)
        ]
    return shown


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"'{text}' is not a time; write 2026-11-23 or 2026-11-23T14:00+01:00",
            param_hint="--since",
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _outcomes(table: pd.DataFrame) -> pd.DataFrame:
    shown = table[["enrollments", "conversions"]].copy()
    shown["conversion rate"] = [
        "" if pd.isna(r) else f"{r:.1%} ({lo:.1%}–{hi:.1%})"
        for r, lo, hi in zip(table["conversion_rate"], table["rate_low"], table["rate_high"], strict=True)
    ]  # fmt: skip
    shown["revenue"] = table["revenue"].map(lambda v: f"{v:,.2f}")
    shown["per enrollment"] = table["revenue_per_enrollment"].map(
        lambda v: "" if pd.isna(v) else f"{v:,.2f}"
    )
    return shown


def _lift(table: pd.DataFrame) -> pd.DataFrame:
    def value(metric: str, v: object) -> str:
        if v is None or pd.isna(v):
            return ""
        return f"{v:.1%}" if metric == "conversion_rate" else f"{v:,.2f}"

    def relative(row: pd.Series) -> str:
        if pd.isna(row["relative"]):
            return ""
        text = f"{row['relative']:+.0%}"
        if not pd.isna(row["relative_low"]):
            text += f" ({row['relative_low']:+.0%} to {row['relative_high']:+.0%})"
        return text.replace("-", "−")

    return pd.DataFrame(
        {
            "comparison": table["comparison"],
            "metric": table["metric"].str.replace("_", " "),
            "a": [f"{v} (n={n})" for v, n in zip(table["a"], table["a_enrollments"], strict=True)],
            "b": [f"{v} (n={n})" for v, n in zip(table["b"], table["b_enrollments"], strict=True)],
            "a value": [value(m, v) for m, v in zip(table["metric"], table["a_value"], strict=True)],
            "b value": [value(m, v) for m, v in zip(table["metric"], table["b_value"], strict=True)],
            "lift (95% CI)": table["summary"],
            "relative": table.apply(relative, axis=1) if len(table) else [],
        }
    )  # fmt: skip


def _credits(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    for column in shown.columns:
        if column.endswith("_revenue"):
            shown[column] = shown[column].map(lambda v: f"{v:,.2f}")
        elif column != "conversions_touched":
            shown[column] = shown[column].map(lambda v: f"{v:.2f}".rstrip("0").rstrip("."))
    return shown.rename(columns=lambda c: c.replace("_", " "))
