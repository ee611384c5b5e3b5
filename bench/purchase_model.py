"""The purchase model (MBG/NBD, touchline/insight/purchase_model.py): fit time at scale,
parameter recovery, and the backtest against days-since-last-purchase — the figures
docs/insight.md quotes.

    python -m bench.purchase_model [--customers 200000] [--recovery-customers 40000]

- **fit**: ``fit`` on ``--customers`` simulated customers summarised at day resolution as
  the record gives them (``histories.purchase_histories``), against a floor measured in the
  same run: one evaluation of the log-likelihood and its gradient on the same data. The
  ratio says how many evaluations' worth the whole fit costs.
- **recovery**: each parameter of two populations, true vs fitted.
- **backtest**: four simulated shops (heterogeneous rates and dropout), fitted 2.5 years
  in, judged over the next 270 days: ROC AUC, precision and recall at the flagged budget
  for the model and for recency.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from rich.console import Console
from rich.table import Table

from touchline.insight import purchase_model, simulate
from touchline.insight.backtest import run_backtest
from touchline.insight.histories import purchase_histories

console = Console(width=150)
START = datetime(2023, 1, 1, tzinfo=UTC)
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
HORIZON = timedelta(days=270)
RECOVERY = {"churny": (0.8, 40.0, 0.9, 3.0), "steady": (1.5, 60.0, 2.5, 6.0)}
SHOPS = {
    "churners": (0.6, 30.0, 0.8, 2.5),
    "steady": (1.2, 80.0, 1.5, 4.0),
    "rare": (0.4, 20.0, 3.0, 12.0),
    "frequent": (2.0, 60.0, 0.7, 3.0),
}


def bench_fit(customers: int) -> None:
    params = RECOVERY["churny"]
    began = time.perf_counter()
    purchases = simulate.population(
        customers, params, START, AS_OF, first_orders_until=AS_OF, seed=9
    )
    histories = purchase_histories(purchases, AS_OF)
    setup = time.perf_counter() - began
    x, t_x, T = (histories[c].to_numpy() for c in ("x", "t_x", "T"))
    began = time.perf_counter()
    model = purchase_model.fit(x, t_x, T)
    fitted = time.perf_counter() - began
    # The floor: one likelihood-and-gradient evaluation over the same distinct rows.
    ux, ut, uT, weight = purchase_model.summarise(x, t_x, T)
    log_params = np.log(np.array(model.params))
    runs = 20
    began = time.perf_counter()
    for _ in range(runs):
        purchase_model._negative_ll_and_gradient(log_params, ux, ut, uT, weight)
    floor = (time.perf_counter() - began) / runs
    table = Table(title=f"Fit: {customers:,} customers, {len(purchases):,} purchases "
                  f"(simulated in {setup:.1f} s)", title_justify="left")  # fmt: skip
    for column in ("measured", "seconds", "ratio to the floor"):
        table.add_column(column, justify="right" if column != "measured" else "left")
    table.add_row(f"floor: one likelihood + gradient over {len(ux):,} distinct (x, t_x, T)",
                  f"{floor:.4f}", "1")  # fmt: skip
    table.add_row(f"fit: summarise + L-BFGS-B, {model.iterations} iterations",
                  f"{fitted:.3f}", f"{fitted / floor:.0f}")  # fmt: skip
    console.print(table)
    errors = ", ".join(
        f"{k} {v / t - 1:+.1%}" for (k, v), t in zip(model.as_dict().items(), params, strict=True)
    )
    console.print(f"recovered at day resolution: {errors}")


def bench_recovery(customers: int) -> None:
    table = Table(title=f"Parameter recovery ({customers:,} simulated customers each)",
                  title_justify="left")  # fmt: skip
    for column in ("population", "parameter", "true", "fitted", "error"):
        table.add_column(
            column, justify="left" if column in ("population", "parameter") else "right"
        )
    for name, true in RECOVERY.items():
        drawn = simulate.draw_customers(customers, true, 1500.0, seed=11)
        T = np.random.default_rng(12).uniform(180, 1300, customers)
        seen = simulate.summaries(drawn, T)
        model = purchase_model.fit(seen["x"], seen["t_x"], seen["T"])
        for (parameter, value), t in zip(model.as_dict().items(), true, strict=True):
            table.add_row(name, parameter, f"{t:g}", f"{value:.3f}", f"{value / t - 1:+.1%}")
    console.print(table)


def bench_backtest(customers: int) -> None:
    table = Table(title=f"Backtest: {customers:,} customers per shop, fitted at {AS_OF:%Y-%m-%d}, "
                  f"judged over {HORIZON.days} days", title_justify="left")  # fmt: skip
    for column in ("shop", "lapsed", "budget", "AUC model", "AUC recency", "precision model",
                   "precision recency", "recall model", "recall recency"):  # fmt: skip
        table.add_column(column, justify="left" if column == "shop" else "right")
    for name, params in SHOPS.items():
        purchases = simulate.population(
            customers, params, START, AS_OF + HORIZON, first_orders_until=AS_OF, seed=5
        )
        result = run_backtest(purchases, AS_OF, HORIZON)
        m, r = result.results["model"], result.results["recency"]
        table.add_row(name, f"{result.lapse_rate:.0%}", f"{result.budget:,}", f"{m.auc:.3f}",
                      f"{r.auc:.3f}", f"{m.precision:.3f}", f"{r.precision:.3f}",
                      f"{m.recall:.3f}", f"{r.recall:.3f}")  # fmt: skip
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--recovery-customers", type=int, default=40_000)
    parser.add_argument("--backtest-customers", type=int, default=20_000)
    args = parser.parse_args()
    bench_fit(args.customers)
    bench_recovery(args.recovery_customers)
    bench_backtest(args.backtest_customers)


if __name__ == "__main__":
    main()
