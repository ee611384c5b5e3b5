"""Launch a journey to a segment file, from the Prefect UI or a schedule.

The same function as `touchline launch`, with Prefect's logging and an artifact that
lists the rows that were rejected and the customers the record does not know. Safe to
retry: a rerun resumes after the last committed batch and enrolls nobody twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run

from flows import _runtime
from touchline.cli.launch import reach_lines
from touchline.clock import SystemClock
from touchline.launch import LaunchReport, launch
from touchline.launch.reach import reach

LISTED = 200


def _run_name() -> str:
    params = flow_run.parameters
    return f"launch {params.get('journey', 'journey')} ← {Path(str(params.get('segment', 'segment'))).name}"


@flow(name="launch-campaign", flow_run_name=_run_name, retries=1)
def launch_campaign(
    journey: str,
    segment: str,
    name: str | None = None,
    as_of: datetime | None = None,
    dry_run: bool = False,
) -> dict[str, int | str]:
    """``dry_run``: report the reach (who would enter, who would be skipped now and why)
    as an artifact, and enroll nobody — as ``touchline launch --dry-run``."""
    engine = _runtime.engine()
    logger = get_run_logger()
    if dry_run:
        return _dry_run(engine, journey, Path(segment), name, as_of or SystemClock().now())
    progress = create_progress_artifact(progress=0.0, description=f"{journey}: segment read")
    logged = [0.0]

    def on_progress(report: LaunchReport, done: int, size: int) -> None:
        share = 100.0 * done / size if size else 100.0
        if share - logged[0] >= 5 or done == size:  # a handful of updates, not one per batch
            logged[0] = share
            update_progress_artifact(progress, share)
            logger.info("%.0f%% of the segment read; %s enrolled", share, report.enrolled)

    report = launch(
        engine.db,
        journey,
        Path(segment),
        now=as_of or SystemClock().now(),
        name=name,
        batch_size=engine.settings.launch_batch_size,
        on_progress=on_progress,
    )
    logger.info(
        "launch %s of %s v%s: %s rows read, %s enrolled, %s already enrolled, %s filtered out, "
        "%s unknown customers, %s rejected rows",
        report.name, journey, report.journey_version, report.rows_read, report.enrolled,
        report.already_enrolled, report.filtered_out, report.unknown_customers, report.rejected_count,
    )  # fmt: skip
    if report.rejected or report.unknown_sample:
        lines = [f"- line {r.line}: {r.reason}" for r in report.rejected[:LISTED]]
        lines += [
            f"- line {n}: no customer `{c}` in the record"
            for n, c in report.unknown_sample[:LISTED]
        ]
        create_markdown_artifact(
            key="launch-problems",
            markdown=f"# Rows not enrolled from {Path(segment).name}\n\n"
            f"{report.rejected_count} rejected, {report.unknown_customers} unknown customers "
            f"(first {LISTED} of each listed)\n\n" + "\n".join(lines),
        )
    return {
        "launch": report.name,
        "rows_read": report.rows_read,
        "enrolled": report.enrolled,
        "total_enrolled": report.total_enrolled,
        "already_enrolled": report.already_enrolled,
        "filtered_out": report.filtered_out,
        "unknown_customers": report.unknown_customers,
        "rejected": report.rejected_count,
    }


def _dry_run(
    engine: Any, journey: str, segment: Path, name: str | None, now: datetime
) -> dict[str, int | str]:
    found = reach(engine.db, journey, segment, now=now, settings=engine.settings, name=name)
    text = "\n".join(f"- {line.strip()}" for line in reach_lines(found, segment.name))
    create_markdown_artifact(
        key="launch-reach", markdown=f"# Reach of {journey} ← {segment.name}\n\n{_plain(text)}"
    )
    get_run_logger().info(
        "dry run of %s: %s rows, %s would enter, %s rejected, %s unknown, %s already enrolled, "
        "%s held out", journey, found.rows, found.would_enter, found.rejected_count,
        found.unknown_customers, found.already_enrolled, found.held_out,
    )  # fmt: skip
    return {
        "launch": found.launch_name,
        "rows": found.rows,
        "would_enter": found.would_enter,
        "rejected": found.rejected_count,
        "unknown_customers": found.unknown_customers,
        "already_enrolled": found.already_enrolled,
        "held_out": found.held_out,
        "filtered_out": found.filtered_out,
    }


def _plain(text: str) -> str:
    """Rich markup ([bold], [red]✗[/]) out of the artifact's markdown."""
    return re.sub(r"\[/?[a-z ]*\]", "", text)
