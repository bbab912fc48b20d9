"""Certificates against independent hand computations with scipy."""

import math

import numpy as np
import pytest
from scipy.stats import beta, norm

from advrl.agents.smoothing.certify import (
    certify,
    dkw_epsilon,
    min_episodes,
    per_step_budget,
    total_budget,
)

RETURNS = np.array([3.0, 7.0, 7.0, 10.0, 2.0, 10.0, 10.0, 5.0, 9.0, 10.0] * 10)  # n = 100


def dkw_by_hand(returns, sigma, budget, alpha):
    """The paper's formula over the sorted returns, written out term by term."""
    x = np.sort(returns)
    n = len(x)
    eps = math.sqrt(math.log(2 / alpha) / (2 * n))
    total, prev = 0.0, 0.0
    for i in range(n):
        p_i = np.mean(returns >= x[i])  # empirical P(R >= x_(i))
        p_lo = max(p_i - eps, 0.0)
        term = norm.cdf(norm.ppf(p_lo) - budget / sigma) if p_lo > 0 else 0.0
        total += (x[i] - prev) * term
        prev = x[i]
    return total


def cp_by_hand(returns, sigma, budget, alpha):
    values = np.unique(returns)
    n, m = len(returns), len(values)
    total, prev = 0.0, 0.0
    for u in values:
        k = int(np.sum(returns >= u))
        p_lo = beta.ppf(alpha / m, k, n - k + 1)
        total += (u - prev) * norm.cdf(norm.ppf(p_lo) - budget / sigma)
        prev = u
    return total


@pytest.mark.parametrize("budget", [0.0, 0.05, 0.3, 1.0])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_dkw_bound_equals_the_formula(budget, alpha):
    cert = certify(RETURNS, sigma=0.4, budgets=[budget], alpha=alpha)
    assert cert.expected[0] == pytest.approx(dkw_by_hand(RETURNS, 0.4, budget, alpha), rel=1e-12)


@pytest.mark.parametrize("budget", [0.0, 0.1, 0.5])
def test_clopper_pearson_bound_equals_the_formula(budget):
    cert = certify(RETURNS, sigma=0.2, budgets=[budget], method="clopper_pearson")
    assert cert.expected[0] == pytest.approx(cp_by_hand(RETURNS, 0.2, budget, 0.05), rel=1e-12)


def test_zero_budget_is_the_lower_confidence_bound_of_the_clean_mean():
    n = len(RETURNS)
    cert = certify(RETURNS, sigma=0.2, budgets=[0.0], alpha=0.05)
    # Without an adversary the bound integrates the lower DKW band of the survival function.
    eps = dkw_epsilon(n, 0.05)
    values = np.unique(RETURNS)
    widths = np.diff(np.concatenate(([0.0], values)))
    lcb = sum(w * max(np.mean(u <= RETURNS) - eps, 0) for w, u in zip(widths, values, strict=True))
    assert cert.expected[0] == pytest.approx(lcb)
    assert cert.expected[0] < RETURNS.mean() == cert.clean_mean


def test_bound_falls_with_budget_and_rises_with_alpha():
    budgets = np.linspace(0, 2, 21)
    tight = certify(RETURNS, 0.3, budgets, alpha=0.01).expected
    loose = certify(RETURNS, 0.3, budgets, alpha=0.2).expected
    assert np.all(np.diff(tight) < 0)
    assert np.all(loose > tight)
    assert tight[-1] >= 0


def test_larger_sigma_certifies_more_at_the_same_budget():
    small = certify(RETURNS, 0.1, [0.3]).expected[0]
    large = certify(RETURNS, 0.5, [0.3]).expected[0]
    assert large > small


def test_lower_bound_shift_handles_negative_returns():
    shifted = RETURNS - 20.0
    cert = certify(shifted, 0.3, [0.0, 0.2], lower_bound=-20.0)
    plain = certify(RETURNS, 0.3, [0.0, 0.2])
    np.testing.assert_allclose(cert.expected, plain.expected - 20.0)
    with pytest.raises(ValueError, match=r"a return of -18 is below lower_bound=0"):
        certify(shifted, 0.3, [0.0])


def test_percentile_bounds():
    cert = certify(np.arange(1, 1001, dtype=float), 0.2, [0.0, 0.5], levels=(10, 50))
    eps = dkw_epsilon(1000, 0.05)
    # The q-th percentile bound is the largest u with P(R >= u) - eps >= 1 - q/100, and
    # P(R >= u) = (1001 - u) / 1000, so u = floor(1000 * (q/100 - eps)) + 1.
    assert cert.percentiles[0, 1] == math.floor(1000 * (0.5 - eps)) + 1
    assert cert.percentiles[0, 0] == math.floor(1000 * (0.1 - eps)) + 1
    assert np.all(cert.percentiles[1] <= cert.percentiles[0])  # an attack lowers them


def test_budget_helpers():
    assert total_budget(0.1, 200) == pytest.approx(0.1 * math.sqrt(200))
    assert per_step_budget(total_budget(0.05, 100), 100) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": 0.0}, "sigma must be a finite number > 0, got 0.0"),
        ({"sigma": -1.0}, "sigma must be"),
        ({"alpha": 1.0}, r"alpha must be in \(0, 1\), got 1.0"),
        ({"alpha": 0.0}, "alpha must be in"),
        ({"budgets": [0.1, -0.2]}, r"budgets must be finite numbers >= 0, got \[0.1, -0.2\]"),
        ({"budgets": [float("nan")]}, "budgets must be"),
        ({"method": "hoeffding"}, "unknown method 'hoeffding'"),
        ({"returns": [1.0]}, "1 episodes are too few .* need at least 2"),
        ({"returns": [1.0, float("nan"), 2.0]}, "NaN"),
        ({"levels": (0, 50)}, "levels must be percentiles"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, match):
    args = {"returns": RETURNS, "sigma": 0.2, "budgets": [0.0]} | kwargs
    with pytest.raises(ValueError, match=match):
        certify(**args)


def test_min_episodes_grows_with_confidence():
    assert min_episodes(0.05) == 2
    assert min_episodes(1e-6) > min_episodes(0.05)
    too_few = min_episodes(1e-6) - 1
    with pytest.raises(ValueError, match="too few"):
        certify(np.ones(too_few), 0.2, [0.0], alpha=1e-6)
