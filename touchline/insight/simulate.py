"""Customers drawn from the MBG/NBD model's own generative process (``purchase_model``).

Used to prove the fit (parameter recovery), to check the closed-form expectations against
Monte Carlo, and to give the backtest populations whose truth is known.

Per customer: λ ~ Gamma(r, rate α), p ~ Beta(a, b). At the first order (time 0) and after
each repeat order they drop out with probability p; while alive they order as a Poisson
process at rate λ. So the number of repeat orders they would ever make is K ~ Geometric(p)
on {0, 1, …}, and the orders are the first K arrivals of the Poisson process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)


@dataclass
class SimulatedCustomers:
    """Each customer's hidden λ and p, their K, and their order times (days since their
    first order, the first order at 0) as a ragged list."""

    rate: np.ndarray
    dropout: np.ndarray
    repeat_orders: np.ndarray  # K: repeat orders before dropping out
    order_days: list[np.ndarray]


def draw_customers(
    n: int, params: tuple[float, float, float, float], horizon_days: float, seed: int = 0
) -> SimulatedCustomers:
    """``n`` customers' orders over ``horizon_days`` after their first order (vectorised by
    rounds: one round draws every still-active customer's next order)."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1.0 / alpha, n)
    dropout = rng.beta(a, b, n)
    repeat = rng.geometric(np.clip(dropout, 1e-12, 1.0)) - 1
    clock = np.zeros(n)
    made = np.zeros(n, dtype=np.int64)
    times: list[list[float]] = [[0.0] for _ in range(n)]
    active = np.flatnonzero(repeat > 0)
    while active.size:
        clock[active] += rng.exponential(1.0 / np.maximum(rate[active], 1e-300))
        inside = clock[active] <= horizon_days
        active = active[inside]
        for i, at in zip(active.tolist(), clock[active].tolist(), strict=True):
            times[i].append(at)
        made[active] += 1
        active = active[made[active] < repeat[active]]
    return SimulatedCustomers(rate, dropout, repeat, [np.asarray(t) for t in times])


def summaries(customers: SimulatedCustomers, T: np.ndarray) -> pd.DataFrame:
    """(x, t_x, T) per customer as observed up to each one's own T (days after their first
    order, T ≤ the horizon they were drawn over)."""
    x = np.empty(len(T))
    t_x = np.empty(len(T))
    for i, (days, until) in enumerate(zip(customers.order_days, T, strict=True)):
        seen = days[days <= until]
        x[i] = len(seen) - 1
        t_x[i] = seen[-1]
    return pd.DataFrame({"x": x, "t_x": t_x, "T": np.asarray(T, dtype="float64")})


def future_orders(customers: SimulatedCustomers, T: np.ndarray, t: float) -> np.ndarray:
    """Orders each customer made in (T, T+t] (the truth a prediction is checked against)."""
    return np.array(
        [
            int(np.count_nonzero((days > until) & (days <= until + t)))
            for days, until in zip(customers.order_days, T, strict=True)
        ]
    )


def purchase_frame(
    customers: SimulatedCustomers,
    first_orders: pd.Series | np.ndarray,
    until: datetime,
    *,
    seed: int = 0,
    prefix: str = "sim",
) -> pd.DataFrame:
    """The orders as purchases (``customer_id``, ``occurred_at``, ``amount``) up to ``until``,
    each customer's first order at ``first_orders[i]`` (UTC timestamps)."""
    rng = np.random.default_rng(seed)
    basket = rng.lognormal(3.5, 0.8, len(customers.order_days))
    firsts = pd.DatetimeIndex(pd.to_datetime(first_orders, utc=True))
    counts = np.array([len(d) for d in customers.order_days])
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.concatenate(customers.order_days) if len(counts) else np.array([])
    at = firsts[owner] + pd.to_timedelta(offsets, unit="D")
    frame = pd.DataFrame(
        {
            "event_id": [f"{prefix}-o{n}" for n in range(len(owner))],
            "customer_id": [f"{prefix}{i:07d}" for i in owner],
            "occurred_at": at,
            "amount": (basket[owner] * rng.uniform(0.8, 1.2, len(owner))).round(2),
        }
    )
    return frame[frame["occurred_at"] <= pd.Timestamp(until)].reset_index(drop=True)


def population(
    n: int,
    params: tuple[float, float, float, float],
    start: datetime,
    end: datetime,
    *,
    first_orders_until: datetime,
    seed: int = 0,
    prefix: str = "sim",
) -> pd.DataFrame:
    """A shop's purchase history: ``n`` customers whose first orders fall uniformly between
    ``start`` and ``first_orders_until``, each then ordering by the model, up to ``end``."""
    span = (pd.Timestamp(end) - pd.Timestamp(start)) / DAY
    customers = draw_customers(n, params, span, seed=seed)
    rng = np.random.default_rng(seed + 7)
    window = (pd.Timestamp(first_orders_until) - pd.Timestamp(start)) / DAY
    firsts = pd.Timestamp(start) + pd.to_timedelta(rng.uniform(0, window, n), unit="D")
    return purchase_frame(customers, firsts, end, seed=seed, prefix=prefix)
