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
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from touchline.record import Enrollment, Interaction, Touch
from touchline.record.touches import FAILED, SKIPPED

COLUMNS = ["step", "channel", "outcome", "reason", "touches"]
_LONG_NUMBER = re.compile(r"\+?\d{7,}")


def _deferral(decision: Any) -> str:
    """The rule that deferred a send, without the customer's own times (as the engine
    counts it in ``engine/steps/send/decide.py``)."""
    reasons = (decision or {}).get("reasons", []) if isinstance(decision, dict) else []
    message = next((r.get("message") for r in reasons if r.get("outcome") == "defer"), None)
    if not message:
        return "scheduled later"
    return str(message).split(" is within ", 1)[-1].split(";")[0]


def not_sent(session: Session, journey: str, since: datetime | None = None) -> pd.DataFrame:
    """Touches skipped, failed or deferred per step, channel and reason (``COLUMNS``), most
    frequent first within each step."""
    scope = Touch.journey_key == journey
    if since is not None:
        scope = and_(scope, Enrollment.entered_at >= since)
    outcome = Interaction.__table__.alias("outcome")
    rows = session.execute(
        select(
            Touch.step_id, Touch.channel, Touch.scheduled_for, Touch.created_at, Touch.decision,
            outcome.c.kind, outcome.c.detail,
        )
        .join(Enrollment, Enrollment.id == Touch.enrollment_id)
        .outerjoin(
            outcome, and_(outcome.c.touch_id == Touch.id, outcome.c.kind.in_([SKIPPED, FAILED]))
        )
        .where(scope)
    ).all()  # fmt: skip
    found: list[tuple[str, str, str, str]] = []
    for step, channel, scheduled_for, created_at, decision, kind, detail in rows:
        if kind is not None:
            reason = (detail or {}).get("reason") if isinstance(detail, dict) else None
            found.append(
                (
                    step,
                    channel or "-",
                    kind,
                    _LONG_NUMBER.sub("…", reason or "") or "(no reason recorded)",
                )
            )
        elif scheduled_for is not None and created_at is not None and scheduled_for > created_at:
            found.append((step, channel or "-", "deferred", _deferral(decision)))
    if not found:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(found, columns=COLUMNS[:-1])
    table = frame.groupby(COLUMNS[:-1]).size().rename("touches").reset_index()
    return table.sort_values(["step", "touches"], ascending=[True, False]).reset_index(drop=True)


def silent_channels(touches: pd.DataFrame, engagement: pd.DataFrame) -> list[str]:
    """Channels with sent touches but not one delivery, open or click reported for them."""
    sent = touches[touches["sent_at"].notna()]
    reported = set(sent[sent["touch_id"].isin(engagement["touch_id"])]["channel"])
    return sorted(set(sent["channel"].dropna()) - reported)
