"""Take in a file of events (JSON lines): validate, store once, enroll, exit, convert.

One task run per batch of events. Invalid lines are reported (line, field, problem) in a
markdown artifact and never stop the other events.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from flows import _runtime
from touchline.clock import SystemClock
from touchline.intake import IngestReport, ingest, read_json_lines

BATCH = 1000


def _run_name() -> str:
    return f"ingest {Path(str(flow_run.parameters.get('path', 'events'))).name}"


@task(name="ingest-batch")
def ingest_batch(items: list[tuple[int | None, str]], source: str, as_of: datetime) -> IngestReport:
    return ingest(_runtime.engine().db, items, now=as_of, source=source, batch_size=BATCH)


@flow(name="ingest-events", flow_run_name=_run_name)
def ingest_file(path: str, source: str = "file", as_of: datetime | None = None) -> dict[str, int]:
    now = as_of or SystemClock().now()
    total = IngestReport()
    with open(path, encoding="utf-8") as stream:
        lines = read_json_lines(stream)
        for number in itertools.count(1):
            chunk = list(itertools.islice(lines, BATCH))
            if not chunk:
                break
            report = ingest_batch.with_options(
                task_run_name=f"events {(number - 1) * BATCH + 1}-{(number - 1) * BATCH + len(chunk)}"
            )(chunk, f"{source}:{Path(path).name}", now)
            total.merge(report)
    get_run_logger().info(
        "%s accepted, %s duplicates, %s rejected; %s enrolled, %s exited",
        len(total.accepted), len(total.duplicates), total.rejected_events, total.enrolled, total.exited,
    )  # fmt: skip
    if total.rejected:
        problems = "\n".join(f"- {p}" for p in total.rejected[:200])
        more = f"\n\n…and {len(total.rejected) - 200} more" if len(total.rejected) > 200 else ""
        create_markdown_artifact(
            key="ingest-rejected", markdown=f"# Rejected events\n\n{problems}{more}"
        )
    return {
        "accepted": len(total.accepted),
        "duplicates": len(total.duplicates),
        "rejected": total.rejected_events,
        "enrolled": total.enrolled,
        "exited": total.exited,
        "converted": total.converted,
    }


def _event_run_name() -> str:
    event = flow_run.parameters.get("event")
    if isinstance(event, dict):
        return f"ingest {event.get('type', 'event')} for {event.get('customer_id', '?')}"
    return "ingest event"


@flow(name="ingest-event", flow_run_name=_event_run_name)
def ingest_event(event: dict[str, Any], as_of: datetime | None = None) -> dict[str, Any]:
    """One genesis event, as carried by a Prefect event (the ``ingest-event`` deployment's
    trigger passes the Prefect event's payload here). Stored once by its id, so a trigger
    that fires twice enrolls nobody twice. An invalid event fails the run with the field
    and the problem, which is what the operator sees in the UI."""
    now = as_of or SystemClock().now()
    report = ingest(_runtime.engine().db, [(None, event)], now=now, source="prefect-event")
    if report.rejected:
        raise ValueError("the event was refused: " + "; ".join(str(p) for p in report.rejected))
    return {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "enrolled": report.enrolled,
        "exited": report.exited,
        "converted": report.converted,
    }
