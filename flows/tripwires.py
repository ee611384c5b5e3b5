"""Flag valuable customers slipping away (the purchase model): one ``customer.disengaging``
event each.

Deployed daily. The work is one plain function (``touchline.insight.tripwires.
flag_disengaging``); this flow runs it and publishes the flags (with their evidence) and a
summary. The events go through intake, so retention journeys triggered on them enroll at
once; a rerun flags nobody twice for the same silence.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows import _runtime
from touchline.clock import SystemClock
from touchline.insight.tripwires import TripwireReport, flag_disengaging
from touchline.words import counted

MAX_ARTIFACT_ROWS = 200


def _run_name() -> str:
    as_of = flow_run.parameters.get("as_of")
    label = f"{as_of:%Y-%m-%d %H:%M}" if isinstance(as_of, datetime) else "now"
    return f"tripwires as of {label}" + (" (dry run)" if flow_run.parameters.get("dry_run") else "")


def summary_markdown(report: TripwireReport) -> str:
    verb = "Would flag" if report.dry_run else "Flagged"
    model = report.model
    fitted = (
        f"- purchase model (MBG/NBD) fitted on {counted(model.customers, 'customer')}: r={model.r:.3g}, "
        f"alpha={model.alpha:.3g}, a={model.a:.3g}, b={model.b:.3g}\n"
        if model
        else "- no purchases: nothing to fit\n"
    )
    return (
        f"# Dis-engagement tripwires as of {report.as_of:%Y-%m-%d %H:%M} UTC\n\n"
        f"- customers with purchases: {report.customers:,}; valuable: {report.valuable:,}\n"
        + fitted
        + f"- valuable and below the thresholds: {report.at_risk:,}\n"
        f"- **{verb} {len(report.flags) - report.already_flagged:,}** "
        f"({report.already_flagged:,} flagged earlier for the same silence); "
        f"enrolled: {report.enrolled:,}\n"
        f"- every flag: `touchline insight flags --csv FILE`\n"
        f"- {report.seconds:.1f} s\n"
    )


def flags_table(report: TripwireReport) -> list[dict[str, object]]:
    flags = report.flags.head(MAX_ARTIFACT_ROWS).reset_index()
    return [
        {"customer": row["customer_id"], "evidence": row["evidence"],
         "P(active)": round(float(row["p_active"]), 3),
         "last purchase": f"{row['last_order_at']:%Y-%m-%d}", "purchases": int(row["orders"]),
         "spent": round(float(row["spent"]), 2), "segment": str(row["rfm_segment"])}
        for _, row in flags.iterrows()
    ]  # fmt: skip


@flow(name="flag-disengaging", flow_run_name=_run_name, retries=1)
def flag_disengaging_customers(
    as_of: datetime | None = None, dry_run: bool = False
) -> dict[str, int | float]:
    engine = _runtime.engine()
    report = flag_disengaging(
        engine.db, as_of or SystemClock().now(), engine.settings, dry_run=dry_run
    )
    get_run_logger().info(
        "%s customers with purchases, %s valuable, %s below the thresholds: %s flagged, "
        "%s already flagged, %s enrolled in %.1f s",
        report.customers, report.valuable, report.at_risk, report.flagged,
        report.already_flagged, report.enrolled, report.seconds,
    )  # fmt: skip
    if not report.flags.empty:
        create_table_artifact(
            key="tripwire-flags",
            table=flags_table(report),
            description="Valuable customers slipping away (first 200, lowest P(active) first; "
            "all: touchline insight flags --csv FILE), with their evidence",
        )
    create_markdown_artifact(key="tripwire-summary", markdown=summary_markdown(report))
    return {
        "customers": report.customers,
        "valuable": report.valuable,
        "at_risk": report.at_risk,
        "flagged": report.flagged,
        "already_flagged": report.already_flagged,
        "enrolled": report.enrolled,
        "seconds": round(report.seconds, 2),
    }
