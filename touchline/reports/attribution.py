"""Which channels get the credit for a journey's conversions.

For each conversion, its **path** is every touch *sent* to that customer within the goal
window before it (``converted_at − within ≤ sent_at ≤ converted_at``), oldest first —
touches of **every journey**, not only this one: the customer read the cart reminder of
another journey too, and leaving it out would hand its credit to this journey's channels.
``this_journey_only=True`` narrows the path to the journey's own touches.

Two models share out one conversion (and its revenue) among the path's channels:

- **last touch**: all of it to the last touch before the conversion;
- **position-based** (the "U-shaped" model): 40 % to the first touch, 40 % to the last,
  the remaining 20 % split evenly among the touches in between; a single touch takes
  100 %, two touches 50 % each (there is no middle to give the 20 % to).

A conversion with no touch in its window (a holdout, a customer every send skipped) is
credited to ``(no touch)``, so each model's credits add up to the number of conversions.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Interval, and_, func, literal, select
from sqlalchemy.orm import Session

from touchline.record import Enrollment, Interaction, Touch
from touchline.record.touches import SENT
from touchline.reports.journey import CONVERTED, isin

LAST_TOUCH, POSITION_BASED = "last_touch", "position_based"
MODELS = [LAST_TOUCH, POSITION_BASED]
NO_TOUCH = "(no touch)"
PATH_COLUMNS = [
    "conversion_id", "customer_id", "converted_at", "revenue", "touch_id", "journey", "step",
    "channel", "sent_at", "position", "touches", LAST_TOUCH, POSITION_BASED,
]  # fmt: skip
CREDIT_COLUMNS = [
    LAST_TOUCH, POSITION_BASED, f"{LAST_TOUCH}_revenue", f"{POSITION_BASED}_revenue",
    "conversions_touched",
]  # fmt: skip


def conversion_paths(
    session: Session,
    conversions: pd.DataFrame,
    window: timedelta | None,
    journey: str,
    *,
    this_journey_only: bool = False,
) -> pd.DataFrame:
    """One row per (conversion, touch in its path) with the touch's position and its share
    of the conversion under each model. Conversions without a touch have no row here."""
    if conversions.empty or window is None:
        return pd.DataFrame(columns=PATH_COLUMNS)
    touches = _path_touches(session, window, journey, this_journey_only)
    paths = conversions[["conversion_id", "customer_id", "converted_at", "revenue"]].merge(
        touches, on="conversion_id"
    )
    paths = paths[
        (paths["sent_at"] <= paths["converted_at"])
        & (paths["sent_at"] >= paths["converted_at"] - window)
    ].sort_values(["conversion_id", "sent_at", "touch_id"])
    if paths.empty:
        return pd.DataFrame(columns=PATH_COLUMNS)
    group = paths.groupby("conversion_id")
    position = group.cumcount().to_numpy() + 1
    count = group["touch_id"].transform("size").to_numpy()
    middle_share = 0.2 / np.maximum(count - 2, 1)
    paths[LAST_TOUCH] = (position == count).astype(float)
    paths[POSITION_BASED] = np.select(
        [count == 1, count == 2, (position == 1) | (position == count)],
        [1.0, 0.5, 0.4],
        default=middle_share,
    )
    return paths.assign(position=position, touches=count).reindex(columns=PATH_COLUMNS)


def _path_touches(
    session: Session, window: timedelta, journey: str, this_journey_only: bool
) -> pd.DataFrame:
    """Per conversion of the journey, the sent touches of its customer within the window
    before it, joined in the database: only path rows come back, not every touch sent.

    On SQLite the lower bound is compared as Julian days with a second to spare (its
    timestamps are text; date arithmetic on them drops the microseconds), so the exact
    bound is applied by the caller, on both databases alike.
    """
    conversion = Interaction.__table__.alias("conversion")
    sent = Interaction.__table__.alias("sent")
    if session.get_bind().dialect.name == "postgresql":
        earliest = sent.c.occurred_at >= conversion.c.occurred_at - literal(window, Interval())
    else:
        slack = (window.total_seconds() + 1) / 86400
        earliest = func.julianday(sent.c.occurred_at) >= func.julianday(
            conversion.c.occurred_at
        ) - literal(slack)
    query = (
        select(conversion.c.id, Touch.id, Touch.journey_key, Touch.step_id, Touch.channel,
               sent.c.occurred_at)
        .select_from(conversion)
        .join(Touch, Touch.customer_id == conversion.c.customer_id)
        .join(sent, and_(sent.c.touch_id == Touch.id, sent.c.kind == SENT))
        .where(
            conversion.c.kind == CONVERTED,
            conversion.c.touch_id.is_(None),
            conversion.c.detail["journey"].as_string() == journey,
            Touch.customer_id.in_(
                select(Enrollment.customer_id).where(Enrollment.journey_key == journey)
            ),
            sent.c.occurred_at <= conversion.c.occurred_at,
            earliest,
        )
    )  # fmt: skip
    if this_journey_only:
        query = query.where(Touch.journey_key == journey)
    touches = pd.DataFrame(
        [tuple(r) for r in session.execute(query).all()],
        columns=["conversion_id", "touch_id", "journey", "step", "channel", "sent_at"],
    )
    touches["sent_at"] = pd.to_datetime(touches["sent_at"], utc=True)
    return touches


def credit_by_channel(conversions: pd.DataFrame, paths: pd.DataFrame) -> pd.DataFrame:
    """Per channel: conversions credited under each model (fractions), the revenue credited
    the same way, and how many conversions had the channel anywhere in their path."""
    untouched = conversions[~isin(conversions["conversion_id"], paths["conversion_id"])]
    rows = pd.concat(
        [
            paths[["conversion_id", "channel", "revenue", *MODELS]],
            untouched[["conversion_id", "revenue"]].assign(
                channel=NO_TOUCH, **{model: 1.0 for model in MODELS}
            ),
        ],
        ignore_index=True,
    )
    if rows.empty:
        return pd.DataFrame(columns=CREDIT_COLUMNS, index=pd.Index([], name="channel"))
    for model in MODELS:
        rows[f"{model}_revenue"] = rows[model] * rows["revenue"].astype(float)
    table = rows.groupby("channel").agg(
        **{column: (column, "sum") for column in CREDIT_COLUMNS[:-1]},
        conversions_touched=("conversion_id", "nunique"),
    )
    ordered = table.sort_values(POSITION_BASED, ascending=False)
    # "(no touch)" last: it is the remainder, not a channel.
    return pd.concat([ordered.drop(index=NO_TOUCH, errors="ignore"),
                      ordered.loc[ordered.index == NO_TOUCH]])  # fmt: skip


def attribution(
    session: Session,
    conversions: pd.DataFrame,
    window: timedelta | None,
    journey: str,
    *,
    this_journey_only: bool = False,
) -> pd.DataFrame:
    """Credit per channel (rows) under each model (columns) for these conversions."""
    paths = conversion_paths(
        session, conversions, window, journey, this_journey_only=this_journey_only
    )
    return credit_by_channel(conversions, paths)
