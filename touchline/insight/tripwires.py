"""Dis-engagement tripwires: a valuable customer silent for longer than usual *for them*.

Jim Novo's latency: each customer has their own rhythm. Someone who buys every 10 days
and has been silent for 25 is slipping away; someone who buys twice a year and has been
silent for 25 days is not. So, per customer:

- **expected interval**: the median of the gaps between their consecutive purchases, once
  they made ``tripwire_min_purchases`` (default 3; fewer gaps say nothing about a rhythm).
  At least one day: two orders in one afternoon are not a rhythm of minutes;
- **silence**: the time since their last purchase (or since their last visit, when
  ``visit_event_types`` are configured: a customer who still visits is not silent);
- **valuable**: RFM monetary score ≥ ``tripwire_min_monetary_score`` (default 4: the best
  two fifths by spend) and frequency score ≥ ``tripwire_min_frequency_score`` (default 0:
  any);
- **flagged** when valuable and silence > expected × ``tripwire_sensitivity`` (default 1.5),
  if that threshold was crossed within ``tripwire_lookback`` (default 30 days) — the moment
  to act is when the silence becomes unusual, not years later.

A flag is a genesis event ``customer.disengaging`` that goes through intake like any other
event, so a retention journey triggered on it enrolls exactly as for any event. Its id
derives from the customer and the start of the silence: a rerun (tomorrow's daily run, a
retry) flags nobody twice for the same silence; a new purchase starts a new silence.
The payload carries the evidence (``EVIDENCE``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select

from touchline.config import Settings, get_settings
from touchline.db import Database, chunked
from touchline.insight.purchases import read_last_visits, read_purchases
from touchline.insight.rfm import DAY, rfm_table
from touchline.intake.ingest import IngestReport, ingest
from touchline.record import Event

EVENT_TYPE = "customer.disengaging"
SOURCE = "tripwire"
MIN_INTERVAL_DAYS = 1.0
_NAMESPACE = uuid.UUID("0d7b2f5e-8a61-4d1c-b7e4-3c9a51f0e2a8")
EVIDENCE = (
    "last_purchase_at", "silent_since", "expected_interval_days", "silence_days",
    "threshold_days", "sensitivity", "purchases", "monetary", "r", "f", "m", "segment",
)  # fmt: skip


def expected_intervals(purchases: pd.DataFrame, min_purchases: int) -> pd.Series:
    """Per customer with at least ``min_purchases`` purchases: the median gap in days
    between consecutive purchases (floored at one day). Vectorised."""
    if purchases.empty:
        return pd.Series([], dtype="float64", name="expected_interval_days")
    ordered = purchases.sort_values(["customer_id", "occurred_at"], kind="stable")
    gaps = ordered.groupby("customer_id", sort=False)["occurred_at"].diff() / DAY
    frame = pd.DataFrame({"customer_id": ordered["customer_id"], "gap": gaps})
    grouped = frame.groupby("customer_id", sort=True)["gap"]
    counts = grouped.size()
    medians = grouped.median()[counts >= min_purchases]
    return medians.clip(lower=MIN_INTERVAL_DAYS).rename("expected_interval_days")


@dataclass
class TripwireReport:
    as_of: datetime
    customers: int = 0  # with at least one purchase
    with_rhythm: int = 0  # enough purchases for an expected interval
    valuable: int = 0  # valuable and with a rhythm
    overdue: int = 0  # valuable, silent beyond the threshold (inside the lookback or not)
    flagged: int = 0  # new customer.disengaging events stored this run
    already_flagged: int = 0  # the same silence flagged by an earlier run
    enrolled: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per flag, EVIDENCE
    intake: IngestReport | None = None


def find_disengaging(
    purchases: pd.DataFrame,
    now: datetime,
    settings: Settings,
    last_visits: pd.Series | None = None,
    report: TripwireReport | None = None,
) -> pd.DataFrame:
    """The customers to flag as of ``now``: index ``customer_id``, columns ``EVIDENCE`` and
    ``crossed_at`` (when the silence became unusual)."""
    report = report or TripwireReport(as_of=now)
    table = rfm_table(purchases, now)
    report.customers = len(table)
    table["expected_interval_days"] = expected_intervals(purchases, settings.tripwire_min_purchases)
    table = table[table["expected_interval_days"].notna()]
    report.with_rhythm = len(table)
    valuable = (table["m"] >= settings.tripwire_min_monetary_score) & (
        table["f"] >= settings.tripwire_min_frequency_score
    )
    table = table[valuable].copy()
    report.valuable = len(table)
    silent_since = table["last_purchase_at"]
    if last_visits is not None and not last_visits.empty:
        visits = last_visits.reindex(table.index)
        silent_since = silent_since.where(visits.isna() | (visits <= silent_since), visits)
    table["silent_since"] = silent_since
    table["silence_days"] = (pd.Timestamp(now) - silent_since) / DAY
    table["sensitivity"] = settings.tripwire_sensitivity
    table["threshold_days"] = table["expected_interval_days"] * settings.tripwire_sensitivity
    overdue = table[table["silence_days"] > table["threshold_days"]].copy()
    report.overdue = len(overdue)
    overdue["crossed_at"] = overdue["silent_since"] + overdue["threshold_days"] * DAY
    recent = overdue["crossed_at"] >= pd.Timestamp(now) - settings.tripwire_lookback
    flags = overdue[recent].rename(columns={"frequency": "purchases"})
    return flags[[*EVIDENCE, "crossed_at"]]


def event_id(customer_id: str, silent_since: datetime) -> str:
    """The same customer and the same silence: the same id, whatever day the run is."""
    stamp = pd.Timestamp(silent_since).tz_convert("UTC").isoformat()
    return f"disengaging:{uuid.uuid5(_NAMESPACE, customer_id + chr(31) + stamp)}"


def disengaging_events(flags: pd.DataFrame, now: datetime) -> list[dict[str, Any]]:
    """``customer.disengaging`` events, evidence in the payload (plain JSON values)."""
    events = []
    for customer_id, row in flags.iterrows():
        payload = {
            "last_purchase_at": row["last_purchase_at"].isoformat(),
            "silent_since": row["silent_since"].isoformat(),
            "threshold_crossed_at": row["crossed_at"].isoformat(),
            "expected_interval_days": round(float(row["expected_interval_days"]), 2),
            "silence_days": round(float(row["silence_days"]), 2),
            "threshold_days": round(float(row["threshold_days"]), 2),
            "sensitivity": float(row["sensitivity"]),
            "purchases": int(row["purchases"]),
            "monetary": round(float(row["monetary"]), 2),
            "scores": {"recency": int(row["r"]), "frequency": int(row["f"]),
                       "monetary": int(row["m"])},
            "segment": str(row["segment"]),
        }  # fmt: skip
        events.append(
            {
                "id": event_id(str(customer_id), row["silent_since"]),
                "type": EVENT_TYPE,
                "customer_id": str(customer_id),
                "occurred_at": now.isoformat(),
                "payload": payload,
            }
        )
    return events


def _stored(db: Database, event_ids: list[str]) -> set[str]:
    with db.session() as session:
        return {
            found
            for chunk in chunked(event_ids)
            for found in session.execute(select(Event.id).where(Event.id.in_(chunk))).scalars()
        }


def flag_disengaging(
    db: Database,
    now: datetime,
    settings: Settings | None = None,
    *,
    dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> TripwireReport:
    """Find the valuable customers gone quiet as of ``now`` and emit one
    ``customer.disengaging`` event each through intake (stored once; journeys enroll).
    ``dry_run``: find and report, store nothing."""
    settings = settings or get_settings()
    began = time.perf_counter()
    report = TripwireReport(as_of=now, dry_run=dry_run)
    purchases = read_purchases(db, now, settings)
    visits = read_last_visits(db, now, settings)
    flags = find_disengaging(purchases, now, settings, visits, report)
    del purchases
    events = disengaging_events(flags, now)
    flags.insert(0, "event_id", [e["id"] for e in events])
    report.flags = flags
    if events and dry_run:
        known = _stored(db, [e["id"] for e in events])
        report.already_flagged = len(known)
        report.flags = flags.assign(new=~flags["event_id"].isin(known))
    if events and not dry_run:
        intake = ingest(
            db,
            [(None, e) for e in events],
            now=now,
            source=SOURCE,
            settings=settings,
            on_progress=on_progress,
        )
        report.intake = intake
        report.flagged = len(intake.accepted)
        report.already_flagged = len(intake.duplicates)
        report.enrolled = intake.enrolled
        if intake.rejected:
            # Our own events failing validation is a bug, not bad input: say so loudly.
            raise RuntimeError(
                "tripwire events were rejected: " + "; ".join(str(p) for p in intake.rejected)
            )
        accepted = set(intake.accepted)
        report.flags = flags.assign(new=flags["event_id"].isin(accepted))
    report.seconds = time.perf_counter() - began
    return report
