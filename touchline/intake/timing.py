"""Time at intake: an event cannot have happened after it reached us.

A producer's clock may run a little ahead (``clock_skew_tolerance``, 5 minutes by default);
beyond that a future ``occurred_at`` is a bug (a test fixture, a date typed by hand, a
device whose clock is years off) and is refused. Accepted, it would open re-entry windows
early and push waits and goals into the future: ``occurred_at: 2030-01-01`` once let a
customer into cart_abandonment twice in five minutes despite ``reentry: {window: 3d}``.
Within the tolerance the engine (``engine/enroll.py``) counts from the time of receipt
instead, so no re-entry window, wait or goal starts in the future.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from touchline.errors import Problem


def future_problem(occurred_at: datetime, now: datetime, tolerance: timedelta) -> Problem | None:
    """Why an event dated ``occurred_at`` cannot be received at ``now``, or None."""
    if occurred_at <= now + tolerance:
        return None
    return Problem(
        "occurred_at",
        f"{occurred_at.isoformat()} is in the future: an event cannot have happened after it "
        f"reached Touchline ({now.isoformat(timespec='seconds')}; clocks may be ahead by "
        f"at most {tolerance}, TOUCHLINE_CLOCK_SKEW_TOLERANCE)",
    )
