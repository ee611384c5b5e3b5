"""The interaction record as a process-mining event log: CSV, Parquet or XES.

One row per thing that happened to a case (an enrollment, or a customer across journeys):

| activity | when | resource |
|---|---|---|
| ``enrolled`` | the enrollment's entry | the journey |
| ``<step>: sent email`` / ``<step>: failed sms`` / ``<step>: skipped`` | the outcome | the provider, else the journey |
| ``<step>: pending`` | decided, no outcome yet | the journey |
| ``delivered``, ``opened``, ``clicked``, ``replied``, ``bounced``… | as the provider reported | the provider |
| ``converted`` | the goal event | the journey |
| ``ended: <reason>`` | the end (event ids left out, so equal reasons are one activity) | the journey |

Columns: ``case``, ``activity``, ``timestamp`` (UTC), ``channel``, ``resource``, and for
filtering ``journey``, ``journey_version``, ``step``, ``customer_id``, ``enrollment_id``.
Rows are ordered by case, then time. CSV and Parquet are written a page of cases at a
time; XES (IEEE 1849) is written by pm4py, which needs the whole log in memory.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from touchline.db import Database
from touchline.insight.record_chunks import CaseKind, RecordPage, iter_record_pages
from touchline.record.touches import DEFERRED, DISPATCHING, PROCESSED, TERMINAL_OUTCOMES

Format = Literal["csv", "parquet", "xes"]
COLUMNS = (
    "case", "activity", "timestamp", "channel", "resource", "journey", "journey_version",
    "step", "customer_id", "enrollment_id",
)  # fmt: skip
# Provider bookkeeping, not something that happened to the customer.
NOT_ACTIVITIES = frozenset({DISPATCHING, PROCESSED, DEFERRED})
_EVENT_ID_SUFFIX = re.compile(r"\s*\([^()]*\)$")
# Within a case and an instant: entry first, end last.
ORDER = {"enrolled": 0, "outcome": 1, "engagement": 2, "converted": 3, "ended": 4}


def end_activity(reason: object) -> str:
    text = _EVENT_ID_SUFFIX.sub("", str(reason or "")).strip()
    return f"ended: {text}" if text else "ended"


def page_events(page: RecordPage, case: CaseKind) -> pd.DataFrame:
    """The event-log rows of one page of the record, ordered by case and time."""
    e = page.enrollments
    if e.empty:
        return pd.DataFrame({c: [] for c in COLUMNS})
    info = e.set_index("enrollment_id")[["journey", "journey_version", "customer_id"]]
    parts: list[pd.DataFrame] = []

    enrolled = e.assign(activity="enrolled", timestamp=e["entered_at"], channel=None,
                        resource=e["journey"], step=None, order=ORDER["enrolled"])  # fmt: skip
    parts.append(enrolled)

    touches = page.touches.set_index("touch_id")
    inter = page.interactions[~page.interactions["kind"].isin(NOT_ACTIVITIES)]
    inter = inter.join(touches[["enrollment_id", "step"]], on="touch_id")
    outcomes = inter[inter["kind"].isin(TERMINAL_OUTCOMES)]
    label = outcomes["step"] + ": " + outcomes["kind"]
    label = label.where(outcomes["channel"].isna(), label + " " + outcomes["channel"].fillna(""))
    parts.append(
        outcomes.assign(activity=label, timestamp=outcomes["occurred_at"],
                        resource=outcomes["provider"], order=ORDER["outcome"])
    )  # fmt: skip
    engagement = inter[~inter["kind"].isin(TERMINAL_OUTCOMES)]
    parts.append(
        engagement.assign(activity=engagement["kind"], timestamp=engagement["occurred_at"],
                          resource=engagement["provider"], order=ORDER["engagement"])
    )  # fmt: skip
    done = set(outcomes["touch_id"])
    pending = page.touches[~page.touches["touch_id"].isin(done)]
    parts.append(
        pending.assign(activity=pending["step"] + ": pending", timestamp=pending["created_at"],
                       resource=None, order=ORDER["outcome"])
    )  # fmt: skip
    conv = page.conversions
    parts.append(
        conv.assign(activity="converted", timestamp=conv["occurred_at"], channel=None,
                    resource=None, step=None, order=ORDER["converted"])
    )  # fmt: skip
    ended = e[e["ended_at"].notna()]
    parts.append(
        ended.assign(activity=ended["end_reason"].map(end_activity), timestamp=ended["ended_at"],
                     channel=None, resource=ended["journey"], step=None, order=ORDER["ended"])
    )  # fmt: skip

    keep = ["enrollment_id", "activity", "timestamp", "channel", "resource", "step", "order"]
    rows = pd.concat([p[keep] for p in parts if not p.empty], ignore_index=True)
    rows = rows.drop(columns=[c for c in ("journey", "journey_version", "customer_id")
                              if c in rows]).join(info, on="enrollment_id")  # fmt: skip
    rows["resource"] = rows["resource"].fillna(rows["journey"])
    rows["timestamp"] = pd.to_datetime(rows["timestamp"], utc=True)
    rows["case"] = rows["enrollment_id"] if case == "enrollment" else rows["customer_id"]
    rows = rows.sort_values(["case", "timestamp", "order"], kind="stable")
    rows["journey_version"] = rows["journey_version"].astype("int64")
    return rows[list(COLUMNS)].reset_index(drop=True)


def iter_event_log(
    db: Database, *, case: CaseKind = "enrollment", journey: str | None = None
) -> Iterator[pd.DataFrame]:
    with db.engine.connect() as connection:
        for page in iter_record_pages(connection, case=case, journey=journey):
            yield page_events(page, case)


@dataclass
class ExportReport:
    path: Path
    format: Format
    cases: int = 0
    events: int = 0


def export_event_log(
    db: Database,
    out: Path,
    fmt: Format,
    *,
    case: CaseKind = "enrollment",
    journey: str | None = None,
) -> ExportReport:
    """Write the event log to ``out``; returns how many cases and events were written."""
    report = ExportReport(out, fmt)
    pages = iter_event_log(db, case=case, journey=journey)
    if fmt == "xes":
        require_pm4py()  # before reading the whole log into memory
        frames = list(pages)
        log = pd.concat(frames, ignore_index=True) if frames else page_events_empty()
        _count(report, log)
        write_xes(log, out)
    elif fmt == "parquet":
        _write_parquet(pages, out, report)
    else:
        _write_csv(pages, out, report)
    return report


def page_events_empty() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in COLUMNS})


def _count(report: ExportReport, frame: pd.DataFrame) -> None:
    report.cases += int(frame["case"].nunique()) if not frame.empty else 0
    report.events += len(frame)


def _write_csv(pages: Iterator[pd.DataFrame], out: Path, report: ExportReport) -> None:
    with out.open("w", newline="", encoding="utf-8") as stream:
        first = True
        for frame in pages:
            _count(report, frame)
            text = frame.assign(
                timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            ) if not frame.empty else frame  # fmt: skip
            text.to_csv(stream, index=False, header=first)
            first = False
        if first:
            page_events_empty().to_csv(stream, index=False)


def _schema():  # type: ignore[no-untyped-def]
    import pyarrow as pa

    return pa.schema(
        [("case", pa.string()), ("activity", pa.string()),
         ("timestamp", pa.timestamp("us", tz="UTC")), ("channel", pa.string()),
         ("resource", pa.string()), ("journey", pa.string()), ("journey_version", pa.int64()),
         ("step", pa.string()), ("customer_id", pa.string()), ("enrollment_id", pa.string())]
    )  # fmt: skip


def _write_parquet(pages: Iterator[pd.DataFrame], out: Path, report: ExportReport) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    with pq.ParquetWriter(out, schema) as writer:
        for frame in pages:
            if frame.empty:
                continue
            _count(report, frame)
            writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))


XES_EXTRA = (
    "XES export needs pm4py (AGPL-3.0), an optional extra: "
    "pip install 'touchline[process-mining]' — or export csv or parquet, which need nothing more"
)


def require_pm4py() -> None:
    """Raise ``MissingExtraError`` (saying what to install) when pm4py is not installed."""
    from importlib.util import find_spec

    from touchline.errors import MissingExtraError

    if find_spec("pm4py") is None:
        raise MissingExtraError(XES_EXTRA)


def write_xes(log: pd.DataFrame, out: Path) -> None:
    """XES (IEEE 1849) through pm4py: a trace per case, an event per row, with the standard
    concept, time, org and lifecycle extensions; the other columns as event attributes.
    pm4py is the ``process-mining`` extra (AGPL-3.0, kept out of the base install)."""
    require_pm4py()
    import pm4py

    frame = log.rename(
        columns={"case": "case:concept:name", "activity": "concept:name",
                 "timestamp": "time:timestamp", "resource": "org:resource"}
    ).assign(**{"lifecycle:transition": "complete"})  # fmt: skip
    frame["journey_version"] = frame["journey_version"].astype("int64")
    # pm4py writes every non-null cell; empty channel/step cells are left out of the event.
    with warnings.catch_warnings():
        # It suggests an optional Rust accelerator on every call; the Python writer is fine.
        warnings.filterwarnings("ignore", message="Install the optional requirement")
        pm4py.write_xes(frame, str(out), case_id_key="case:concept:name")
