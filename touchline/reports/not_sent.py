"""What a journey did not send, and why; and whether engagement was reported at all.

The funnel counts what was sent. The rest of the story: touches **skipped** (no channel
allowed: consent, caps, the holdout…), **failed** (the provider refused), and **deferred**
(sent later than decided: quiet hours, best send time), each with its reason, grouped so
that customer-specific details (phone numbers, local times) do not split a reason.

Delivered, opened and clicked come from the providers' webhooks. When no such report
arrived for a channel's touches, its zeros would read as "nobody opened": the report says
the webhooks are silent instead (``silent_channels``).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from touchline.record import Enrollment, Interaction, Touch
from touchline.record.touches import FAILED, SKIPPED

COLUMNS = ["step", "channel", "outcome", "reason", "touches"]
_LONG_NUMBER = re.compile(r"\+?\d{7,}")
DEFERRED_CHUNK = 10_000  # deferred touches read at a time: memory holds one chunk


def _deferral(decision: Any) -> str:
    """The rule that deferred a send, without the customer's own times (as the engine
    counts it in ``engine/steps/send/decide.py``)."""
    reasons = (decision or {}).get("reasons", []) if isinstance(decision, dict) else []
    message = next((r.get("message") for r in reasons if r.get("outcome") == "defer"), None)
    if not message:
        return "scheduled later"
    return str(message).split(" is within ", 1)[-1].split(";")[0]


def not_sent(
    session: Session,
    journey: str,
    since: datetime | None = None,
    endings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Touches skipped, failed or deferred per step, channel and reason (``COLUMNS``), most
    frequent first within each step.

    Skipped and failed are counted in the database per raw reason, then the reasons are
    cleaned and folded here (a handful of rows, not one per touch); ``endings``, when the
    journey report already counted them in its pass over the touches (``touch_counts``).
    Deferred touches need their decision's reasons read, so they are streamed in chunks and
    counted as they come.
    """
    scope = Touch.journey_key == journey
    if since is not None:
        scope = and_(scope, Enrollment.entered_at >= since)
    outcome = Interaction.__table__.alias("outcome")
    reason = outcome.c.detail["reason"].as_string()
    found: Counter[tuple[str, str, str, str]] = Counter()
    counted = (
        endings.itertuples(index=False, name=None)
        if endings is not None
        else session.execute(
            select(Touch.step_id, Touch.channel, outcome.c.kind, reason, func.count())
            .join(Enrollment, Enrollment.id == Touch.enrollment_id)
            .join(outcome, and_(outcome.c.touch_id == Touch.id, outcome.c.kind.in_([SKIPPED, FAILED])))
            .where(scope)
            .group_by(Touch.step_id, Touch.channel, outcome.c.kind, reason)
        ).all()
    )  # fmt: skip
    for step, channel, kind, text, touches in counted:
        key = (
            step,
            channel or "-",
            kind,
            _LONG_NUMBER.sub("…", text or "") or "(no reason recorded)",
        )
        found[key] += touches
    ended = (
        select(outcome.c.id)
        .where(outcome.c.touch_id == Touch.id, outcome.c.kind.in_([SKIPPED, FAILED]))
        .exists()
    )
    deferred = session.execute(
        select(Touch.step_id, Touch.channel, Touch.decision)
        .join(Enrollment, Enrollment.id == Touch.enrollment_id)
        .where(scope, Touch.scheduled_for > Touch.created_at, ~ended)
        .execution_options(yield_per=DEFERRED_CHUNK)
    )
    for step, channel, decision in deferred:
        found[(step, channel or "-", "deferred", _deferral(decision))] += 1
    if not found:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame([(*key, n) for key, n in found.items()], columns=COLUMNS)
    table = frame.groupby(COLUMNS[:-1])["touches"].sum().reset_index()
    return table.sort_values(["step", "touches"], ascending=[True, False]).reset_index(drop=True)


def silent_channels(counts: pd.DataFrame) -> list[str]:
    """Channels with sent touches but not one delivery, open or click reported for them
    (``counts``: the funnel's per step and channel, as ``journey.funnel_counts`` returns)."""
    if counts.empty:
        return []
    per_channel = counts.groupby("channel")[["sent", "delivered", "opened", "clicked"]].sum()
    sent = per_channel[per_channel["sent"] > 0]
    reported = sent[["delivered", "opened", "clicked"]].sum(axis=1) > 0
    return sorted(sent.index[~reported])
