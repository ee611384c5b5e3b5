"""Launch a journey to a segment file, from the Prefect UI or a schedule.

The same function as `touchline launch`, with Prefect's logging and an artifact that
lists the rows that were rejected and the customers the record does not know. Safe to
retry: a rerun resumes after the last committed batch and enrolls nobody twice.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run

from flows import _runtime
from touchline.clock import SystemClock
from touchline.launch import LaunchReport, launch

LISTED = 200


def _run_name() -> str:
    params = flow_run.parameters
    return f"launch {params.get('journey', 'journey')} ← {Path(str(params.get('segment', 'segment'))).name}"


@flow(name="launch-campaign", flow_run_name=_run_name, retries=1)
def launch_campaign(
    journey: str, segment: str, name: str | None = None, as_of: datetime | None = None
) -> dict[str, int | str]:
    engine = _runtime.engine()
    logger = get_run_logger()
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
