"""Touch outcomes and engagement per journey step and channel."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from touchline.record import Enrollment, Interaction, Touch
from touchline.record.touches import CLICKED, DELIVERED, OPENED, TERMINAL_OUTCOMES

OUTCOME_ORDER = ["sent", "failed", "skipped", "pending"]


def touch_outcomes(session: Session, journey: str | None = None) -> pd.DataFrame:
    """One row per touch: journey, step, channel, outcome (pending = decided, not yet done), reason."""
    outcome = Interaction.__table__.alias("outcome")
    query = select(
        Touch.id.label("touch_id"),
        Touch.customer_id,
        Touch.journey_key.label("journey"),
        Touch.step_id.label("step"),
        Touch.channel,
        Touch.scheduled_for,
        Touch.created_at,
        outcome.c.kind.label("outcome"),
        outcome.c.detail,
    ).outerjoin(
        outcome, and_(outcome.c.touch_id == Touch.id, outcome.c.kind.in_(TERMINAL_OUTCOMES))
    )
    if journey:
        query = query.where(Touch.journey_key == journey)
    frame = pd.DataFrame(session.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(
            columns=[
                "touch_id",
                "customer_id",
                "journey",
                "step",
                "channel",
                "scheduled_for",
                "created_at",
                "outcome",
                "reason",
            ]
        )
    frame["outcome"] = frame["outcome"].fillna("pending")
    frame["channel"] = frame["channel"].fillna("-")
    frame["reason"] = frame["detail"].map(
        lambda d: (d or {}).get("reason") if isinstance(d, dict) else None
    )
    frame["deferred"] = frame["scheduled_for"] > frame["created_at"]
    return frame.drop(columns=["detail"])


def by_step_and_channel(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Touches per (step, channel) by outcome, plus how many were deferred by quiet hours."""
    if outcomes.empty:
        return pd.DataFrame()
    table = outcomes.pivot_table(
        index=["journey", "step", "channel"],
        columns="outcome",
        values="touch_id",
        aggfunc="count",
        fill_value=0,
    )
    table = table.reindex(columns=[c for c in OUTCOME_ORDER if c in table.columns])
    table["deferred"] = outcomes.groupby(["journey", "step", "channel"])["deferred"].sum()
    return table


def skip_and_failure_reasons(outcomes: pd.DataFrame) -> pd.DataFrame:
    frame = outcomes[outcomes["outcome"].isin(["skipped", "failed"])]
    if frame.empty:
        return pd.DataFrame(columns=["step", "outcome", "reason", "touches"])
    # Phone numbers and addresses vary per customer; the reason without them groups.
    reasons = frame["reason"].fillna("").str.replace(r"\+?\d{7,}", "…", regex=True)
    return (
        frame.assign(reason=reasons)
        .groupby(["step", "outcome", "reason"])
        .size()
        .rename("touches")
        .reset_index()
        .sort_values(["step", "touches"], ascending=[True, False])
    )


def engagement(session: Session, journey: str | None = None) -> pd.DataFrame:
    """Distinct touches delivered, opened and clicked, per step and channel."""
    query = (
        select(Touch.step_id.label("step"), Touch.channel, Interaction.kind, Interaction.touch_id)
        .join(Interaction, Interaction.touch_id == Touch.id)
        .where(Interaction.kind.in_([DELIVERED, OPENED, CLICKED]))
    )
    if journey:
        query = query.where(Touch.journey_key == journey)
    frame = pd.DataFrame(session.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame()
    return frame.drop_duplicates().pivot_table(
        index=["step", "channel"],
        columns="kind",
        values="touch_id",
        aggfunc="nunique",
        fill_value=0,
    )


def enrollment_outcomes(session: Session, journey: str | None = None) -> pd.DataFrame:
    query = select(
        Enrollment.journey_key.label("journey"), Enrollment.status, Enrollment.end_reason
    )
    if journey:
        query = query.where(Enrollment.journey_key == journey)
    frame = pd.DataFrame(session.execute(query).mappings().all())
    if frame.empty:
        return frame
    frame["end_reason"] = (
        frame["end_reason"].fillna("in progress").str.replace(r" \(.*\)$", "", regex=True)
    )
    return (
        frame.groupby(["journey", "status", "end_reason"])
        .size()
        .rename("enrollments")
        .reset_index()
    )
