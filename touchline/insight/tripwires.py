"""Dis-engagement tripwires: valuable customers the purchase model says are slipping away.

Drilling Down's idea — act on a good customer before they are gone — measured by the
MBG/NBD purchase model (``purchase_model``) instead of a fixed multiple of a median gap.
As of ``now`` the model is fitted on every customer's purchases (one purchase per day), and
each customer gets P(still active) and the orders to expect within ``tripwire_horizon``.
This covers one-time buyers too, who are most of those who lapse.

- **valuable**: RFM monetary score ≥ ``tripwire_min_monetary_score`` (default 4: the best
  two fifths by spend) and frequency score ≥ ``tripwire_min_frequency_score`` (default 0);
- **flagged** when valuable and P(active) < ``tripwire_p_alive_below`` (default 0.5), or
  expected orders within the horizon < ``tripwire_expected_orders_below`` (default: not
  used). Flags are ranked by P(active), lowest first.

Nobody is flagged twice for the same silence: a flag is a genesis event
``customer.disengaging`` whose id derives from the customer and their last purchase, so
tomorrow's run (or a retry) finds it stored; a new purchase starts a new silence. Nothing
else limits who is flagged: a customer silent for long is the likeliest to lapse, not one
to skip. The event goes through intake like any other, so a retention journey triggered on
it enrolls; its payload carries the evidence (``EVIDENCE``), in numbers and in words
(``evidence``: "0.08 orders expected next quarter; 41% likely still active; 95 days since
the last order, usually every 30").
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select

from touchline.config import Settings, get_settings
from touchline.db import Database, chunked
from touchline.errors import ModelFitError
from touchline.insight.purchase_model import PurchaseModel
from touchline.insight.purchases import read_purchases
from touchline.insight.scores import score_customers
from touchline.intake.ingest import IngestReport, ingest
from touchline.record import Event

EVENT_TYPE = "customer.disengaging"
SOURCE = "tripwire"
_NAMESPACE = uuid.UUID("0d7b2f5e-8a61-4d1c-b7e4-3c9a51f0e2a8")
EVIDENCE = (
    "p_active", "expected_orders_in_horizon", "p_order_in_horizon", "horizon_days",
    "days_since_last_order", "usual_days_between_orders", "last_order_at", "order_days",
    "orders", "spent", "rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score",
    "rfm_segment", "evidence",
)  # fmt: skip


@dataclass
class TripwireReport:
    as_of: datetime
    customers: int = 0  # with at least one purchase
    valuable: int = 0  # by monetary (and frequency) score
    at_risk: int = 0  # valuable and below a threshold: flagged now or before
    flagged: int = 0  # new customer.disengaging events stored this run
    already_flagged: int = 0  # the same silence flagged by an earlier run
    enrolled: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    model: PurchaseModel | None = None
    not_fitted: str | None = None  # why there was no model to rank by (nothing to learn yet)
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per flag, EVIDENCE
    intake: IngestReport | None = None


def horizon_words(horizon: timedelta) -> str:
    days = horizon / timedelta(days=1)
    for low, high, words in ((28, 31, "next month"), (89, 92, "next quarter"),
                             (364, 366, "next year")):  # fmt: skip
        if low <= days <= high:
            return words
    return f"in the next {days:g} days"


def evidence_words(row: Mapping[str, Any], horizon: timedelta) -> str:
    """'0.08 orders expected next quarter; 41% likely still active; 95 days since the last
    order, usually every 30' — what a marketer reads."""
    since = math.floor(float(row["days_since_last_order"]))
    gap = row["usual_days_between_orders"]
    rhythm = (
        "the only order so far"
        if int(row["order_days"]) == 1
        else f"the last order, usually every {float(gap):.0f}"
    )
    expected, active = float(row["expected_orders_in_horizon"]), float(row["p_active"])
    # Rounded to nothing, "0.00 orders" and "0% active" read as certainty; they are not.
    orders = "< 0.01" if expected < 0.005 else f"{expected:.2f}"
    likely = "< 1%" if active < 0.005 else f"{active:.0%}"
    return (
        f"{orders} orders expected {horizon_words(horizon)}; {likely} likely still active; "
        f"{since} day{'s' if since != 1 else ''} since {rhythm}"
    )


def find_disengaging(
    purchases: pd.DataFrame,
    now: datetime,
    settings: Settings,
    report: TripwireReport | None = None,
) -> pd.DataFrame:
    """The customers to flag as of ``now``: index ``customer_id``, columns ``EVIDENCE``,
    lowest P(active) first. Empty when nobody has bought yet."""
    report = report or TripwireReport(as_of=now)
    if purchases.empty:
        return pd.DataFrame({c: [] for c in EVIDENCE})
    try:
        scores = score_customers(purchases, now, settings.tripwire_horizon)
    except ModelFitError as exc:
        # A new shop (every purchase today): nothing to learn yet is not a failed run.
        report.not_fitted = str(exc)
        return pd.DataFrame({c: [] for c in EVIDENCE})
    report.model = scores.model
    table = scores.table
    report.customers = len(table)
    valuable = (table["rfm_monetary_score"] >= settings.tripwire_min_monetary_score) & (
        table["rfm_frequency_score"] >= settings.tripwire_min_frequency_score
    )
    table = table[valuable]
    report.valuable = len(table)
    below = table["p_active"] < settings.tripwire_p_alive_below
    if settings.tripwire_expected_orders_below is not None:
        below |= table["expected_orders_in_horizon"] < settings.tripwire_expected_orders_below
    flags = table[below].sort_values(["p_active", "spent"], ascending=[True, False]).copy()
    report.at_risk = len(flags)
    # Plain dicts, not iterrows: a first run can flag tens of thousands (iterrows took ~16 s
    # for 47,000 flags).
    needed = ["expected_orders_in_horizon", "p_active", "days_since_last_order",
              "usual_days_between_orders", "order_days"]  # fmt: skip
    flags["evidence"] = [
        evidence_words(row, settings.tripwire_horizon) for row in flags[needed].to_dict("records")
    ]
    return flags[list(EVIDENCE)]


def event_id(customer_id: str, silent_since: datetime) -> str:
    """The same customer and the same silence: the same id, whatever day the run is."""
    stamp = silent_since if isinstance(silent_since, pd.Timestamp) else pd.Timestamp(silent_since)
    stamp = stamp.tz_convert("UTC").isoformat()
    return f"disengaging:{uuid.uuid5(_NAMESPACE, customer_id + chr(31) + stamp)}"


def disengaging_events(flags: pd.DataFrame, now: datetime) -> list[dict[str, Any]]:
    """``customer.disengaging`` events, evidence in the payload (plain JSON values)."""
    events = []
    for customer_id, row in zip(flags.index, flags.to_dict("records"), strict=True):
        gap = row["usual_days_between_orders"]
        payload = {
            "evidence": str(row["evidence"]),
            "p_active": round(float(row["p_active"]), 4),
            "expected_orders": round(float(row["expected_orders_in_horizon"]), 4),
            "p_order": round(float(row["p_order_in_horizon"]), 4),
            "horizon_days": float(row["horizon_days"]),
            "last_purchase_at": row["last_order_at"].isoformat(),
            "days_since_last_purchase": round(float(row["days_since_last_order"]), 2),
            "usual_days_between_purchases": None if pd.isna(gap) else round(float(gap), 1),
            "purchase_days": int(row["order_days"]),
            "purchases": int(row["orders"]),
            "monetary": round(float(row["spent"]), 2),
            "scores": {"recency": int(row["rfm_recency_score"]),
                       "frequency": int(row["rfm_frequency_score"]),
                       "monetary": int(row["rfm_monetary_score"])},
            "segment": str(row["rfm_segment"]),
        }  # fmt: skip
        events.append(
            {
                "id": event_id(str(customer_id), row["last_order_at"]),
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
    """Fit the purchase model as of ``now``, find the valuable customers slipping away and
    emit one ``customer.disengaging`` event each through intake (stored once per silence;
    journeys enroll). ``dry_run``: find and report, store nothing."""
    settings = settings or get_settings()
    began = time.perf_counter()
    report = TripwireReport(as_of=now, dry_run=dry_run)
    purchases = read_purchases(db, now, settings)
    flags = find_disengaging(purchases, now, settings, report)
    del purchases
    events = disengaging_events(flags, now)
    flags.insert(0, "event_id", [e["id"] for e in events])
    known = _stored(db, [e["id"] for e in events]) if events else set()
    report.already_flagged = len(known)
    report.flags = flags.assign(new=~flags["event_id"].isin(known))
    fresh = [e for e in events if e["id"] not in known]
    if fresh and not dry_run:
        intake = ingest(
            db, [(None, e) for e in fresh], now=now, source=SOURCE, settings=settings,
            on_progress=on_progress,
        )  # fmt: skip
        report.intake = intake
        report.flagged = len(intake.accepted)
        report.already_flagged += len(intake.duplicates)
        report.enrolled = intake.enrolled
        if intake.rejected:
            # Our own events failing validation is a bug, not bad input: say so loudly.
            raise RuntimeError(
                "tripwire events were rejected: " + "; ".join(str(p) for p in intake.rejected)
            )
        report.flags = report.flags.assign(new=report.flags["event_id"].isin(set(intake.accepted)))
    report.seconds = time.perf_counter() - began
    return report
