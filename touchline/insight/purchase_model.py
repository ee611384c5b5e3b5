"""MBG/NBD: who is still a customer, and how many orders to expect from them.

The modified beta-geometric / negative-binomial model (Batislam, Denizel & Filiztekin 2007),
a member of the BG/NBD family (Fader, Hardie & Lee 2005). Per customer:

- while "alive", they order as a Poisson process at their own rate λ; λ varies between
  customers as Gamma(shape ``r``, rate ``alpha``);
- at their first order and after every repeat order they drop out for good with their own
  probability p; p varies between customers as Beta(``a``, ``b``).

Unlike BG/NBD, a customer may drop out right after the first order, so one-time buyers who
bought long ago are not taken for alive (BG/NBD gives every one-time buyer P(alive) = 1).

Each customer is summarised by ``x`` (repeat orders: orders after the first), ``t_x`` (time
of the last order since the first) and ``T`` (time from the first order to the as-of
date), all in days. The likelihood is closed form; the four parameters are fitted by
maximum likelihood (L-BFGS-B on their logarithms, with the analytic gradient), so a fit of
200,000 customers takes well under a second (``bench/purchase_model.py``).

Why not a library: ``lifetimes`` pins pandas < 2.2 and numpy < 2 (last release 2020);
``pymc-marketing`` installs ~790 MB (PyMC, PyTensor and a C toolchain at first use) and took
about two minutes for its first fit. See docs/insight.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1

from touchline.errors import ModelFitError

PARAMETERS = ("r", "alpha", "a", "b")


def _arrays(x: object, t_x: object, T: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.asarray(x, dtype="float64"),
        np.asarray(t_x, dtype="float64"),
        np.asarray(T, dtype="float64"),
    )


def log_likelihood_terms(
    params: tuple[float, float, float, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Each customer's log-likelihood.

    L = Γ(r+x) αʳ / Γ(r) · B(a, b+x+1)/B(a, b) · [(α+T)^-(r+x) + a/(b+x) · (α+t_x)^-(r+x)]:
    alive at T, or dropped out right after the last order (the first one, when x = 0).
    """
    r, alpha, a, b = params
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    head += betaln(a, b + x + 1) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + T)
    gone = np.log(a) - np.log(b + x) - (r + x) * np.log(alpha + t_x)
    return head + np.logaddexp(alive, gone)


def _negative_ll_and_gradient(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weight: np.ndarray
) -> tuple[float, np.ndarray]:
    r, alpha, a, b = np.exp(log_params)
    rx = r + x
    log_at, log_atx = np.log(alpha + T), np.log(alpha + t_x)
    alive = -rx * log_at
    gone = np.log(a) - np.log(b + x) - rx * log_atx
    mix = np.logaddexp(alive, gone)
    w_alive, w_gone = np.exp(alive - mix), np.exp(gone - mix)  # posterior weights, sum to 1
    ll = (
        gammaln(rx) - gammaln(r) + r * np.log(alpha)
        + betaln(a, b + x + 1) - betaln(a, b) + mix
    )  # fmt: skip
    # Derivatives of each customer's log-likelihood with respect to r, alpha, a, b.
    d_r = digamma(rx) - digamma(r) + np.log(alpha) - w_alive * log_at - w_gone * log_atx
    d_alpha = r / alpha - w_alive * rx / (alpha + T) - w_gone * rx / (alpha + t_x)
    psi_abx = digamma(a + b + x + 1)
    d_a = digamma(a) - psi_abx - digamma(a) + digamma(a + b) + w_gone / a
    d_b = digamma(b + x + 1) - psi_abx - digamma(b) + digamma(a + b) - w_gone / (b + x)
    # Weighted sums without BLAS (np.dot): OpenBLAS threads spinning on a busy machine made
    # each sum ~100x slower than the elementwise work it sums.
    total = float((weight * ll).sum())
    gradient = np.array([(weight * d).sum() for d in (d_r, d_alpha, d_a, d_b)])
    # Chain rule for the log-parameters; negated for minimisation, scaled per customer so
    # the optimiser's tolerances mean the same at any population size.
    n = float(weight.sum())
    return -total / n, -(gradient * np.exp(log_params)) / n


def summarise(
    x: object, t_x: object, T: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, t_x, T) rows and how many customers share each: the likelihood is
    evaluated once per distinct row (day-resolution histories repeat a lot)."""
    frame = pd.DataFrame(dict(zip(("x", "t_x", "T"), _arrays(x, t_x, T), strict=True)))
    counts = frame.value_counts(sort=False).reset_index(name="n")
    return (
        counts["x"].to_numpy("float64"),
        counts["t_x"].to_numpy("float64"),
        counts["T"].to_numpy("float64"),
        counts["n"].to_numpy("float64"),
    )


@dataclass(frozen=True)
class PurchaseModel:
    """Fitted MBG/NBD parameters (time unit: days) and what they predict per customer."""

    r: float
    alpha: float
    a: float
    b: float
    customers: int = 0
    log_likelihood: float = float("nan")
    iterations: int = 0

    @property
    def params(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(PARAMETERS, self.params, strict=True))

    def p_alive(self, x: object, t_x: object, T: object) -> np.ndarray:
        """P(still a customer at T | x, t_x, T) = 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))."""
        x, t_x, T = _arrays(x, t_x, T)
        log_odds = (
            np.log(self.a) - np.log(self.b + x)
            + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        )  # fmt: skip
        return 1.0 / (1.0 + np.exp(log_odds))

    def expected_purchases(self, t: float, x: object, t_x: object, T: object) -> np.ndarray:
        """E[orders in (T, T+t] | x, t_x, T]:
        P(alive) · (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))].

        For a ≤ 1 the same expression holds by analytic continuation (both factors change
        sign); at a = 1 exactly it is the limit, taken here by nudging a."""
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, a, b = self.params
        if abs(a - 1.0) < 1e-6:
            a = 1.0 + 1e-6
        z = t / (alpha + T + t)
        hyp = hyp2f1(r + x, b + x + 1, a + b + x, z)
        remaining = 1.0 - hyp * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        conditional = (a + b + x) / (a - 1.0) * remaining
        return self.p_alive(x, t_x, T) * conditional

    def probability_of_purchase(self, t: float, x: object, t_x: object, T: object) -> np.ndarray:
        """P(at least one order in (T, T+t] | x, t_x, T) = P(alive) · (1 − ((α+T)/(α+T+t))^(r+x)):
        an alive customer's rate has posterior Gamma(r+x, α+T), and nobody drops out between
        orders."""
        x, t_x, T = _arrays(x, t_x, T)
        none = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + t)))
        return self.p_alive(x, t_x, T) * (1.0 - none)

    def expected_purchases_new(self, t: float) -> float:
        """E[repeat orders in (0, t]] for a customer who just made their first order:
        b/(a−1) · [1 − (α/(α+t))^r · ₂F₁(r, b+1; a+b; t/(α+t))] — BG/NBD's expression for
        Beta(a, b+1), times P(not dropping out at the first order) = b/(a+b)."""
        r, alpha, a, b = self.params
        if abs(a - 1.0) < 1e-6:
            a = 1.0 + 1e-6
        hyp = hyp2f1(r, b + 1, a + b, t / (alpha + t))
        return float(b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp))


def fit(x: object, t_x: object, T: object, *, max_iterations: int = 500) -> PurchaseModel:
    """Maximum-likelihood MBG/NBD parameters for customers summarised as (x, t_x, T) in days.

    Raises ``ModelFitError`` when there is nothing to learn from (no customers, or no time
    observed) or the optimiser fails."""
    x, t_x, T = _arrays(x, t_x, T)
    if x.size == 0:
        raise ModelFitError("no customers with a purchase: nothing to fit the model on")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise ModelFitError("each customer needs 0 <= t_x <= T and x >= 0")
    if float(T.max()) < 1.0:
        raise ModelFitError(
            "every purchase is on the as-of day (less than a day of history): no time to learn "
            "a rhythm from"
        )
    ux, ut, uT, weight = summarise(x, t_x, T)
    # Start from a rate near the observed one (repeat orders per day observed) and a
    # moderate dropout: the optimiser is then a few dozen iterations from the optimum.
    rate = max(float((weight * ux).sum() / max((weight * uT).sum(), 1e-9)), 1e-4)
    start = np.log([1.0, 1.0 / rate, 1.0, 3.0])
    result = minimize(
        _negative_ll_and_gradient,
        start,
        args=(ux, ut, uT, weight),
        jac=True,
        method="L-BFGS-B",
        # Keep every parameter within e^±12 ≈ [6e-6, 1.6e5]: outside that the population is
        # degenerate (everyone identical or nobody ever buying again) and the fit says so.
        bounds=[(-12.0, 12.0)] * 4,
        options={"maxiter": max_iterations, "ftol": 1e-12, "gtol": 1e-8},
    )
    if not np.all(np.isfinite(result.x)):
        raise ModelFitError(f"the purchase model did not converge: {result.message}")
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return PurchaseModel(
        r=r, alpha=alpha, a=a, b=b, customers=int(x.size),
        log_likelihood=float(-result.fun * weight.sum()), iterations=int(result.nit),
    )  # fmt: skip
