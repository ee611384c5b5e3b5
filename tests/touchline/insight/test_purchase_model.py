"""The purchase model (MBG/NBD) proved on its own generative process: the fit recovers known
parameters, and the closed-form predictions match what simulated customers then do."""

import numpy as np
import pytest

from touchline.errors import ModelFitError
from touchline.insight import simulate
from touchline.insight.purchase_model import PurchaseModel, fit, log_likelihood_terms

# Two populations: most buyers gone after a few orders (a < 1: heavy-tailed dropout), and
# steadier ones (a > 1).
POPULATIONS = {
    "churny": (0.8, 40.0, 0.9, 3.0),
    "steady": (1.5, 60.0, 2.5, 6.0),
}
CUSTOMERS = 40_000


def observed(params: tuple[float, float, float, float], seed: int, horizon: float = 1500.0):  # type: ignore[no-untyped-def]
    customers = simulate.draw_customers(CUSTOMERS, params, horizon, seed=seed)
    # Customers arrived over four years: each observed for their own T.
    T = np.random.default_rng(seed + 1).uniform(180, horizon - 200, CUSTOMERS)
    return customers, T, simulate.summaries(customers, T)


@pytest.mark.parametrize("name", sorted(POPULATIONS))
def test_the_fit_recovers_each_parameter_within_ten_percent(name: str) -> None:
    true = POPULATIONS[name]
    _, _, seen = observed(true, seed=11)
    model = fit(seen["x"], seen["t_x"], seen["T"])
    errors = {k: v / t - 1 for (k, v), t in zip(model.as_dict().items(), true, strict=True)}
    assert all(abs(e) < 0.10 for e in errors.values()), errors
    # The optimum is a real one: the true parameters fit no better.
    terms = log_likelihood_terms(true, seen["x"].to_numpy(), seen["t_x"].to_numpy(),
                                 seen["T"].to_numpy())  # fmt: skip
    assert model.log_likelihood >= terms.sum() - 1e-6


@pytest.mark.parametrize("name", sorted(POPULATIONS))
def test_closed_form_predictions_match_monte_carlo(name: str) -> None:
    """With the true parameters, what the formulas predict per customer is, on average,
    what the simulated customers then did."""
    true = POPULATIONS[name]
    customers, T, seen = observed(true, seed=21)
    model = PurchaseModel(*true)
    x, t_x, TT = seen["x"], seen["t_x"], seen["T"]
    future = simulate.future_orders(customers, T, 90.0)
    expected = model.expected_purchases(90.0, x, t_x, TT)
    assert expected.mean() == pytest.approx(future.mean(), rel=0.04)
    bought = model.probability_of_purchase(90.0, x, t_x, TT)
    assert bought.mean() == pytest.approx((future > 0).mean(), rel=0.04)
    # P(alive) against who really was still a customer at T (K > x: not dropped out).
    alive = customers.repeat_orders > x.to_numpy()
    assert model.p_alive(x, t_x, TT).mean() == pytest.approx(alive.mean(), rel=0.03)
    # Calibrated per group too: among customers the model gives < 20%, few are alive.
    low = model.p_alive(x, t_x, TT) < 0.2
    assert alive[low].mean() < 0.2
    # A new customer's expected repeat orders in their first 90 days.
    fresh = simulate.draw_customers(CUSTOMERS, true, 90.0, seed=31)
    made = np.array([len(days) - 1 for days in fresh.order_days])
    assert model.expected_purchases_new(90.0) == pytest.approx(made.mean(), rel=0.04)


def test_one_time_buyers_are_not_all_alive() -> None:
    """MBG/NBD's point over BG/NBD: a single order long ago means probably gone."""
    model = PurchaseModel(*POPULATIONS["churny"])
    recent, old = model.p_alive([0, 0], [0, 0], [10, 700])
    assert old < 0.5 < recent < 1
    # More silence, less alive; a steady buyer's silence counts more than a rare one's.
    assert model.p_alive(5, 100, 400) < model.p_alive(5, 100, 200)
    assert model.p_alive(10, 300, 400) < model.p_alive(1, 300, 400)


def test_nothing_to_fit_on_is_an_error_that_says_so() -> None:
    with pytest.raises(ModelFitError, match="no customers"):
        fit([], [], [])
    with pytest.raises(ModelFitError, match="as-of day"):
        fit([0, 0], [0, 0], [0, 0])
    with pytest.raises(ModelFitError, match="t_x <= T"):
        fit([1], [10], [5])
