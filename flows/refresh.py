"""Relearn channel and timing effectiveness from the interaction record.

Deployed on a daily schedule. The work is one plain function
(``preference_center.learning.refresh``); this flow runs it and publishes what was learned:
a table of everyone's engagement rate per kind of message and channel, and a summary.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows import _runtime
from preference_center.learning import RefreshReport, refresh
from touchline.clock import SystemClock
from touchline.words import counted


def _run_name() -> str:
    as_of = flow_run.parameters.get("as_of")
    return f"refresh as of {as_of:%Y-%m-%d %H:%M}" if isinstance(as_of, datetime) else "refresh now"


def summary_markdown(report: RefreshReport) -> str:
    return (
        f"# Effectiveness learned as of {report.until:%Y-%m-%d %H:%M} UTC\n\n"
        f"From {counted(report.messages, 'message')} sent since {report.since:%Y-%m-%d} "
        f"({report.engaged:,} engaged) to {counted(report.customers, 'customer')} in "
        f"{counted(report.segments, 'segment')}.\n\n"
        f"- customers with enough data of their own to rank channels: "
        f"**{report.customers_ranked:,}**; the others get their segment's or everyone's rates\n"
        f"- rows written: {report.channel_rows:,} channel rates, "
        f"{report.timing_rows:,} hour-of-week scores\n"
        f"- {report.seconds:.1f} s\n"
    )


def global_rates_table(report: RefreshReport) -> list[dict[str, object]]:
    return [
        {"kind": g.kind, "channel": g.channel, "sent": g.sent, "engaged": g.engaged,
         "rate": f"{g.rate:.1%}"}
        for g in report.global_rates
    ]  # fmt: skip


@flow(name="refresh-effectiveness", flow_run_name=_run_name, retries=1)
def refresh_effectiveness(as_of: datetime | None = None) -> dict[str, int | float]:
    engine = _runtime.engine()
    report = refresh(engine.db, as_of or SystemClock().now(), engine.settings)
    get_run_logger().info(
        "learned from %s messages to %s customers: %s channel rows, %s timing rows in %.1f s",
        report.messages, report.customers, report.channel_rows, report.timing_rows, report.seconds,
    )  # fmt: skip
    create_table_artifact(
        key="effectiveness-global",
        table=global_rates_table(report),
        description="Everyone's engagement rate per kind of message and channel (smoothed)",
    )
    create_markdown_artifact(key="effectiveness-summary", markdown=summary_markdown(report))
    return {
        "messages": report.messages,
        "customers": report.customers,
        "customers_ranked": report.customers_ranked,
        "channel_rows": report.channel_rows,
        "timing_rows": report.timing_rows,
        "seconds": round(report.seconds, 2),
    }
