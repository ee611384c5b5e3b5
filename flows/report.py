"""Publish a journey's report as Prefect artifacts: funnel, treatment vs holdout, lift,
split variants and attribution as tables, and the report in words as markdown.

The work is ``touchline.reports.journey.build_report``, the same as `touchline report`;
this flow only reads the record and publishes. It needs the database, not the providers.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from touchline.config import get_settings
from touchline.db import Database
from touchline.reports.journey import TREATMENT, JourneyReport, build_report


def _run_name() -> str:
    journey = flow_run.parameters.get("journey", "?")
    since = flow_run.parameters.get("since")
    return f"report {journey}" + (f" since {since:%Y-%m-%d}" if isinstance(since, datetime) else "")


def artifact_key(journey: str, table: str) -> str:
    # Artifact keys allow lower-case letters, digits and dashes only.
    return re.sub(r"[^a-z0-9-]+", "-", f"journey-report-{journey}-{table}".lower())


def table_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows: the index as columns, blanks for missing values, rounded floats."""
    data = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame

    def cell(value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, float):
            return round(value, 4)
        if hasattr(value, "item"):  # numpy scalars
            return cell(value.item())
        return value

    return [{str(k): cell(v) for k, v in row.items()} for row in data.to_dict("records")]


def summary_markdown(report: JourneyReport) -> str:
    record = report.record
    lines = [f"# {record.name} ({record.journey})", ""]
    lines += [f"- {line}" for line in report.headline]
    lifts = report.lift[report.lift["comparison"] != "treatment vs holdout"]
    if not lifts.empty:
        lines += ["", "## Split variants", ""]
        lines += [f"- {row.comparison}, {row.metric.replace('_', ' ')}: {row.summary}"
                  for row in lifts.itertuples()]  # fmt: skip
    if not report.attribution.empty:
        lines += ["", "## Attribution (conversions credited per channel)", "",
                  "| channel | last touch | position-based |", "|---|---:|---:|"]  # fmt: skip
        lines += [f"| {channel} | {row.last_touch:.2f} | {row.position_based:.2f} |"
                  for channel, row in report.attribution.iterrows()]  # fmt: skip
    lines += [
        "",
        "Intervals: Newcombe's hybrid score interval for the difference in conversion rate, "
        "Welch's t for revenue per enrollment. Position-based: 40% first touch, 40% last, "
        "20% shared by the touches between.",
    ]
    return "\n".join(lines) + "\n"


@flow(name="journey-report", flow_run_name=_run_name, retries=1)
def journey_report(
    journey: str, since: datetime | None = None, min_group: int = 10
) -> dict[str, Any]:
    db = Database(get_settings().resolved_database_url)
    try:
        with db.session() as session:
            report = build_report(session, journey, since, min_group)
    finally:
        db.dispose()
    for line in report.headline:
        get_run_logger().info(line)
    tables = {
        "outcomes": (report.outcomes, "Treatment vs holdout: enrollments, conversions, revenue"),
        "lift": (report.lift.drop(columns=["significant"]), "Lift (a − b) with 95% intervals"),
        "funnel": (report.funnel, "Funnel per step and channel"),
        "variants": (report.variants, "Split variants (holdout: reached the split)"),
        "attribution": (report.attribution, "Conversions credited per channel"),
    }
    for name, (frame, description) in tables.items():
        create_table_artifact(
            key=artifact_key(journey, name), table=table_rows(frame), description=description
        )
    create_markdown_artifact(
        key=artifact_key(journey, "summary"), markdown=summary_markdown(report)
    )
    treated = report.outcomes.loc[TREATMENT]
    return {
        "enrollments": int(report.outcomes["enrollments"].sum()),
        "conversions": int(report.outcomes["conversions"].sum()),
        "treatment_rate": None if pd.isna(treated["conversion_rate"]) else float(treated["conversion_rate"]),
        "lift": report.lift.loc[0, "summary"],
    }  # fmt: skip
