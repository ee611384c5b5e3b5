"""The journey report's charts, as PNG files: the funnel, conversion per group with its
95 % interval, and the attribution of conversions to channels.

Drawn with matplotlib's object-oriented API on the Agg canvas (as the journey graphs are):
no pyplot state, no display, safe in a worker or a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from touchline.reports.attribution import MODELS
from touchline.reports.journey import FUNNEL_STAGES, HOLDOUT, TREATMENT, JourneyReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STAGE_COLORS = ["#1d4ed8", "#0891b2", "#059669", "#65a30d", "#c026d3"]
GROUP_COLORS = {TREATMENT: "#1d4ed8", HOLDOUT: "#94a3b8"}
VARIANT_COLOR = "#0891b2"
MODEL_COLORS = ["#1d4ed8", "#f59e0b"]
DPI = 120


@dataclass
class Charts:
    written: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # chart → why it was not drawn


def default_folder(home: Path, journey: str) -> Path:
    return home / "reports" / journey


def write_charts(report: JourneyReport, folder: Path) -> Charts:
    folder.mkdir(parents=True, exist_ok=True)
    charts = Charts()
    for name, draw in (
        ("funnel", _funnel),
        ("conversion", _conversion),
        ("attribution", _attribution),
    ):
        figure = draw(report)
        if isinstance(figure, str):
            charts.skipped[name] = figure
            continue
        path = folder / f"{name}.png"
        figure.savefig(path, format="png", facecolor="white")
        charts.written.append(path)
    return charts


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _title(report: JourneyReport, what: str) -> str:
    record = report.record
    since = f" since {record.since:%Y-%m-%d}" if record.since else ""
    return f"{record.name} ({record.journey}){since} — {what}"


def _funnel(report: JourneyReport) -> Figure | str:
    table = report.funnel
    if table.empty:
        return "no touch was sent"
    labels = [f"{step}\n{channel}" for step, channel in table.index]
    figure, axes = _figure(max(6.0, 1.9 * len(labels) + 2), 4.5)
    width = 0.8 / len(FUNNEL_STAGES)
    for number, (stage, color) in enumerate(zip(FUNNEL_STAGES, STAGE_COLORS, strict=True)):
        xs = [i + (number - (len(FUNNEL_STAGES) - 1) / 2) * width for i in range(len(labels))]
        bars = axes.bar(xs, table[stage], width, label=stage, color=color)
        axes.bar_label(bars, fontsize=7, padding=1)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylabel("touches (converted: enrollments)")
    axes.set_title(
        _title(report, "funnel per step and channel"), fontsize=10, loc="left", parse_math=False
    )
    axes.legend(fontsize=8, ncols=len(FUNNEL_STAGES), loc="upper right")
    axes.margins(y=0.15)
    _plain(axes)
    return figure


def _conversion(report: JourneyReport) -> Figure | str:
    arms: list[tuple[str, pd.Series, str]] = [
        (group, report.outcomes.loc[group], GROUP_COLORS[group])
        for group in (TREATMENT, HOLDOUT)
        if report.outcomes.loc[group, "enrollments"] > 0
    ]
    for (split, arm), row in report.variants.iterrows():
        if row["enrollments"] > 0:
            color = GROUP_COLORS[HOLDOUT] if arm == HOLDOUT else VARIANT_COLOR
            arms.append((f"{split}\n{arm}", row, color))
    if not arms:
        return "no enrollments"
    figure, axes = _figure(max(5.0, 1.3 * len(arms) + 2), 4.5)
    rates = [100 * float(row["conversion_rate"]) for _, row, _ in arms]
    errors = [
        [rate - 100 * float(row["rate_low"]) for rate, (_, row, _) in zip(rates, arms, strict=True)],
        [100 * float(row["rate_high"]) - rate for rate, (_, row, _) in zip(rates, arms, strict=True)],
    ]  # fmt: skip
    axes.bar(
        range(len(arms)), rates, 0.6, yerr=errors, capsize=6,
        color=[color for *_, color in arms], error_kw={"elinewidth": 1.2},
    )  # fmt: skip
    # The rate and counts under each bar: inside it they would collide with the interval.
    axes.set_xticks(
        range(len(arms)),
        [
            f"{label}\n{rate:.1f}% ({int(row['conversions'])}/{int(row['enrollments'])})"
            for rate, (label, row, _) in zip(rates, arms, strict=True)
        ],
    )
    axes.set_ylabel("conversion rate, % (bars: 95% Wilson interval)")
    main = report.lift[
        (report.lift["comparison"] == "treatment vs holdout")
        & (report.lift["metric"] == "conversion_rate")
    ]
    lift = main["summary"].iloc[0] if not main.empty else ""
    axes.set_title(
        _title(report, "conversion") + f"\nlift vs holdout: {lift}",
        fontsize=10,
        loc="left",
        parse_math=False,
    )
    axes.set_ylim(bottom=0)
    _plain(axes)
    return figure


def _attribution(report: JourneyReport) -> Figure | str:
    table = report.attribution
    if table.empty:
        return "no conversions"
    figure, axes = _figure(max(5.0, 1.6 * len(table) + 2), 4.5)
    width = 0.38
    for number, (model, color) in enumerate(zip(MODELS, MODEL_COLORS, strict=True)):
        xs = [i + (number - 0.5) * width for i in range(len(table))]
        bars = axes.bar(xs, table[model], width, label=model.replace("_", " "), color=color)
        axes.bar_label(bars, labels=[_number(v) for v in table[model]], fontsize=7, padding=1)
    axes.set_xticks(range(len(table)), list(table.index))
    axes.set_ylabel("conversions credited")
    total = round(float(table[MODELS[0]].sum()))
    axes.set_title(
        _title(report, f"attribution of {total} conversions"),
        fontsize=10,
        loc="left",
        parse_math=False,
    )
    axes.legend(fontsize=8)
    axes.margins(y=0.15)
    _plain(axes)
    return figure


def _plain(axes: Any) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=8)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
