"""QARL curriculum maths against numerical integration and its constraints."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from advrl.agents.qarl.curriculum import (
    GammaTemperature,
    LinearCurriculum,
    SelfPacedCurriculum,
    gamma_kl,
    importance_estimate,
    self_paced_step,
)

RATE = 1000.0


def kl_numeric(a1, b1, a2, b2):
    p, q = stats.gamma(a1, scale=1 / b1), stats.gamma(a2, scale=1 / b2)
    lo, hi = p.ppf(1e-12), p.ppf(1 - 1e-12)
    value, _ = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), lo, hi, limit=200)
    return value


@pytest.mark.parametrize(
    ("a1", "b1", "a2", "b2"),
    [
        (50, RATE, 1, RATE),
        (1, RATE, 50, RATE),
        (5, 2.0, 3, 2.0),
        (2.5, 1.0, 4.0, 3.0),
        (7, 7, 7, 7),
    ],
)
def test_gamma_kl_matches_numerical_integration(a1, b1, a2, b2):
    assert gamma_kl(a1, b1, a2, b2) == pytest.approx(kl_numeric(a1, b1, a2, b2), rel=1e-5, abs=1e-8)


def test_gamma_kl_rejects_bad_parameters():
    with pytest.raises(ValueError, match="a1=0"):
        gamma_kl(0, 1, 1, 1)


def episodes(c, n=300, seed=0, slope=0.0, base=100.0):
    rng = np.random.default_rng(seed)
    alphas = rng.gamma(c, 1 / RATE, n)
    return alphas, base + slope * alphas * RATE + rng.normal(0, 1, n)


def test_step_stays_in_the_trust_region_and_moves_towards_the_target():
    alphas, returns = episodes(50.0)
    c_new = self_paced_step(50.0, alphas, returns, c_target=1.0, rate=RATE, kl_bound=0.5)
    assert 1.0 <= c_new < 50.0
    assert gamma_kl(c_new, RATE, 50.0, RATE) <= 0.5 + 1e-6
    # The trust region is what binds: it is (nearly) used up.
    assert gamma_kl(c_new, RATE, 50.0, RATE) == pytest.approx(0.5, rel=1e-3)


def test_step_respects_the_performance_floor():
    # Returns grow with the temperature, so moving towards small temperatures (c -> 1) costs
    # return; a floor just below the current mean stops the move early.
    alphas, returns = episodes(50.0, slope=2.0)
    free = self_paced_step(50.0, alphas, returns, rate=RATE, kl_bound=0.5)
    floor = float(np.mean(returns)) - 3.0
    held = self_paced_step(50.0, alphas, returns, rate=RATE, kl_bound=0.5, floor=floor)
    assert free < held < 50.0
    assert importance_estimate(held, 50.0, RATE, alphas, returns) >= floor - 1e-6
    # Below the floor already: no move.
    assert self_paced_step(50.0, alphas, returns, rate=RATE, floor=1e6) == 50.0


def test_importance_estimate_is_the_mean_under_the_same_distribution():
    alphas, returns = episodes(20.0)
    assert importance_estimate(20.0, 20.0, RATE, alphas, returns) == pytest.approx(returns.mean())


def test_self_paced_curriculum_is_frozen_until_the_floor_is_met():
    temp = GammaTemperature(50.0, RATE)
    curriculum = SelfPacedCurriculum(temp, floor=50.0, update_every=10)
    rng = np.random.default_rng(0)
    for _ in range(10):
        curriculum.record(temp.sample(rng), 10.0)  # below the floor
    assert temp.concentration == 50.0 and not curriculum.unlocked
    for _ in range(10):
        curriculum.record(temp.sample(rng), 100.0)
    assert curriculum.unlocked and temp.concentration < 50.0
    assert curriculum.history == [50.0, 50.0, temp.concentration]


def test_linear_curriculum_reaches_the_target_in_n_updates():
    temp = GammaTemperature(50.0, RATE)
    curriculum = LinearCurriculum(temp, c_target=1.0, n_updates=7, update_every=2)
    for _ in range(20):
        curriculum.record(0.01, 0.0)
    assert temp.concentration == pytest.approx(1.0)
    assert np.allclose(np.diff(curriculum.history[:8]), -7.0)


def test_temperature_samples_follow_the_gamma():
    temp = GammaTemperature(50.0, RATE)
    rng = np.random.default_rng(0)
    draws = np.array([temp.sample(rng) for _ in range(20000)])
    assert draws.mean() == pytest.approx(temp.mean, rel=0.01)
    assert draws.var() == pytest.approx(50.0 / RATE**2, rel=0.05)
    assert math.isclose(temp.mean, 0.05)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        self_paced_step(5.0, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="kl_bound must be > 0"):
        self_paced_step(5.0, np.ones(3), np.ones(3), kl_bound=0.0)
