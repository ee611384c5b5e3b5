"""95 % confidence intervals for the journey report, with no statistics package.

- One proportion: **Wilson's score interval**. Unlike the Wald interval (p ± z·√(p(1−p)/n))
  it never leaves [0, 1] and does not collapse to a zero width at 0 conversions, which is
  exactly where small journeys and fresh holdouts live.
- Difference of two proportions (absolute lift of the conversion rate): **Newcombe's hybrid
  score interval** (Newcombe 1998, method 10), built from the two Wilson intervals. Its
  coverage stays close to 95 % for small groups and rates near 0, where the Wald interval
  for a difference is known to be too narrow.
- Ratio of two proportions (relative lift = ratio − 1): **Katz's log interval**; it needs at
  least one conversion in each group, otherwise there is no ratio to speak of.
- Difference of two means (revenue per enrollment): **Welch's t interval** with the
  Welch–Satterthwaite degrees of freedom: groups need not have equal variances (the
  treatment's revenue usually varies more).

Student's t quantile is computed here from the regularised incomplete beta function
(continued fraction, Lentz's method) and bisection, because the project does not ship scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95
Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)  # 1.959963984540054


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson(successes: int, trials: int, z: float = Z) -> Interval:
    """Wilson's score interval for successes / trials (trials > 0)."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or n successes the exact bound is 0 or 1; the formula leaves rounding noise.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(p, low, high)


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, z: float = Z) -> Interval:
    """p1 − p2 with Newcombe's hybrid score interval (method 10)."""
    a, b = wilson(k1, n1, z), wilson(k2, n2, z)
    diff = a.estimate - b.estimate
    low = diff - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = diff + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(diff, low, high)


def katz_ratio(k1: int, n1: int, k2: int, n2: int, z: float = Z) -> Interval | None:
    """p1 / p2 with the log (Katz) interval; None without a conversion in each group."""
    if k1 <= 0 or k2 <= 0 or n1 <= 0 or n2 <= 0:
        return None
    ratio = (k1 / n1) / (k2 / n2)
    se = math.sqrt(1 / k1 - 1 / n1 + 1 / k2 - 1 / n2)
    return Interval(ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se))


def welch_difference(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int
) -> Interval | None:
    """mean1 − mean2 with Welch's t interval; None if it cannot be formed (a group of one,
    or no variation at all — every enrollment's revenue the same)."""
    if n1 < 2 or n2 < 2:
        return None
    s1, s2 = var1 / n1, var2 / n2
    se2 = s1 + s2
    if not se2 > 0:
        return None
    df = se2 * se2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1))
    half = t_quantile(1 - (1 - CONFIDENCE) / 2, df) * math.sqrt(se2)
    diff = mean1 - mean2
    return Interval(diff, diff - half, diff + half)


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` (real, > 0) degrees of freedom."""
    if not 0 < p < 1 or not df > 0:
        raise ValueError("t_quantile needs 0 < p < 1 and df > 0")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    if df > 1e7:  # indistinguishable from the normal distribution
        return NormalDist().inv_cdf(p)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):  # bisection: monotone, and 200 halvings reach double precision
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-13 * max(1.0, high):
            break
    return (low + high) / 2


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * regularized_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), by its continued fraction (Numerical Recipes §6.4, modified Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for numerator in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return result
