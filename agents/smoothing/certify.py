"""Certified lower bounds on the total reward of a smoothed policy under attack.

Pure maths, no RL plumbing. Kumar, Levine & Feizi (ICLR 2022), "Policy Smoothing for
Provably Robust Reinforcement Learning": if the agent acts on ``o_t + delta_t + eps_t`` with
``eps_t ~ N(0, sigma^2 I)`` and an adaptive adversary's perturbations satisfy
``||(delta_1, ..., delta_T)||_2 <= B``, then for every threshold r (their Theorem 2, the
adaptive Neyman-Pearson lemma)

    P[R_adv >= r] >= Phi(Phi^-1(P[R >= r]) - B / sigma).

Estimating ``P[R >= r]`` from n clean smoothed episodes with a simultaneous lower confidence
band and integrating over thresholds gives the expected-reward bound (their Sec. 5)

    E[R_adv] >= a + sum_j (u_j - u_{j-1}) Phi(Phi^-1(p_j) - B / sigma),

over the distinct returns ``a = u_0 < u_1 < ... < u_m`` (``a`` a known lower bound on the
return, 0 by default) with ``p_j`` a lower confidence bound on ``P[R >= u_j]``:

- ``"dkw"``: ``p_j = max(F_j - sqrt(ln(2 / alpha) / (2 n)), 0)`` (Dvoretzky-Kiefer-Wolfowitz
  band, valid for all thresholds at once);
- ``"clopper_pearson"``: exact one-sided binomial bounds at level ``alpha / m`` per threshold
  (Bonferroni over the m thresholds), tighter when returns take few values (CartPole).

Percentile bounds follow from the same per-threshold bounds: the q-quantile of ``R_adv`` is
at least ``max{u_j : Phi(Phi^-1(p_j) - B / sigma) >= 1 - q}``.

Example:
    >>> import numpy as np
    >>> cert = certify(np.full(1000, 200.0), sigma=0.2, budgets=[0.0, 0.2])
    >>> [round(float(v), 1) for v in cert.expected]   # 200 * (1 - eps_dkw), then shifted by B/sigma
    [191.4, 152.7]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

METHODS = ("dkw", "clopper_pearson")


def total_budget(eps_per_step: float, horizon: int) -> float:
    """Total l_2 budget of an adversary spending ``eps_per_step`` on each of ``horizon`` steps:
    ``B = eps * sqrt(T)``."""
    if not math.isfinite(eps_per_step) or eps_per_step < 0:
        raise ValueError(f"eps_per_step must be a finite number >= 0, got {eps_per_step!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon!r}")
    return float(eps_per_step) * math.sqrt(horizon)


def per_step_budget(total: float, horizon: int) -> float:
    """Inverse of :func:`total_budget`: ``eps = B / sqrt(T)``."""
    if not math.isfinite(total) or total < 0:
        raise ValueError(f"total budget must be a finite number >= 0, got {total!r}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon!r}")
    return float(total) / math.sqrt(horizon)


def dkw_epsilon(n: int, alpha: float) -> float:
    """Half-width of the two-sided DKW band: ``sqrt(ln(2 / alpha) / (2 n))``."""
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def min_episodes(alpha: float, method: str = "dkw") -> int:
    """Fewest episodes for which the certificate can be non-trivial at all.

    DKW needs its band narrower than 1 (``n > ln(2 / alpha) / 2``); Clopper-Pearson gives a
    positive bound from one episode on, but we ask for the same n so both methods agree on
    what "enough episodes" means.
    """
    _check_alpha(alpha)
    _check_method(method)
    return math.floor(math.log(2.0 / alpha) / 2.0) + 1


@dataclass(frozen=True)
class Certificate:
    """Certified bounds for each total l_2 budget.

    Attributes:
        budgets: total budgets B, shape (k,).
        expected: certified lower bound on E[R_adv] per budget, shape (k,).
        percentiles: certified lower bounds on percentiles of R_adv, shape (k, len(levels)).
        levels: the percentiles (in %) of ``percentiles``' columns.
        clean_mean: the empirical mean of the clean smoothed returns.
    """

    budgets: np.ndarray
    expected: np.ndarray
    percentiles: np.ndarray
    levels: tuple[float, ...]
    clean_mean: float
    n: int
    sigma: float
    alpha: float
    method: str
    lower_bound: float


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; allowed: {list(METHODS)}")


def threshold_lower_bounds(
    returns: np.ndarray, alpha: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct returns ``u`` (ascending) and lower confidence bounds on ``P[R >= u_j]``."""
    n = len(returns)
    thresholds, counts = np.unique(returns, return_counts=True)
    at_least = n - np.concatenate(([0], np.cumsum(counts)[:-1]))  # #returns >= u_j
    if method == "dkw":
        lower = np.maximum(at_least / n - dkw_epsilon(n, alpha), 0.0)
    else:
        level = alpha / len(thresholds)  # Bonferroni over thresholds
        lower = stats.beta.ppf(level, at_least, n - at_least + 1)
        lower = np.where(at_least == 0, 0.0, np.nan_to_num(lower, nan=0.0))
    return thresholds, lower


def certify(
    returns: Sequence[float] | np.ndarray,
    sigma: float,
    budgets: Sequence[float] | np.ndarray,
    alpha: float = 0.05,
    method: str = "dkw",
    lower_bound: float = 0.0,
    levels: Sequence[float] = (10.0, 25.0, 50.0),
) -> Certificate:
    """Certified lower bounds on the total reward for each total l_2 budget B.

    Args:
        returns: total rewards of n clean episodes of the *smoothed* agent, shape (n,).
        sigma: std of the smoothing noise (> 0), in the observation units of the budgets.
        budgets: total l_2 budgets B >= 0 over the episode (see :func:`total_budget`).
        alpha: the bounds hold with probability >= 1 - alpha over the n episodes.
        method: ``"dkw"`` or ``"clopper_pearson"`` (see the module docstring).
        lower_bound: a known lower bound ``a`` on any episode's return (0 for non-negative
            rewards). Returns below it are rejected, since the bound integrates from ``a``.
        levels: percentiles (in %, in (0, 100)) to bound.

    Raises:
        ValueError: sigma <= 0, alpha outside (0, 1), negative or non-finite budgets,
            fewer episodes than :func:`min_episodes`, returns below ``lower_bound``, or an
            unknown method.
    """
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    _check_alpha(alpha)
    _check_method(method)
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"returns must be a non-empty 1-D sequence, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("returns contain NaN or infinite values")
    needed = min_episodes(alpha, method)
    if x.size < needed:
        raise ValueError(
            f"{x.size} episodes are too few for confidence 1 - alpha = {1 - alpha:g}; "
            f"need at least {needed} (the certificate would be vacuous)"
        )
    if not math.isfinite(lower_bound):
        raise ValueError(f"lower_bound must be finite, got {lower_bound!r}")
    if x.min() < lower_bound:
        raise ValueError(
            f"a return of {x.min():g} is below lower_bound={lower_bound:g}; pass a "
            "lower_bound no greater than the smallest possible return (e.g. -T * max|r|)"
        )
    b = np.asarray(budgets, dtype=np.float64).reshape(-1)
    if b.size == 0 or not np.all(np.isfinite(b)) or (b < 0).any():
        raise ValueError(f"budgets must be finite numbers >= 0, got {b.tolist()}")
    level_arr = np.asarray(levels, dtype=np.float64)
    if ((level_arr <= 0) | (level_arr >= 100)).any():
        raise ValueError(f"levels must be percentiles in (0, 100), got {list(levels)}")

    thresholds, p_lower = threshold_lower_bounds(x, alpha, method)
    # Phi(Phi^-1(p) - B / sigma) per (budget, threshold); Phi^-1(0) = -inf gives 0.
    shifted = stats.norm.cdf(stats.norm.ppf(p_lower)[None, :] - b[:, None] / sigma)
    widths = np.diff(np.concatenate(([lower_bound], thresholds)))
    expected = lower_bound + shifted @ widths

    # Percentile q of R_adv >= u_j whenever P[R_adv >= u_j] >= 1 - q / 100.
    percentiles = np.full((b.size, level_arr.size), lower_bound)
    for k, q in enumerate(level_arr):
        ok = shifted >= 1.0 - q / 100.0
        has = ok.any(axis=1)
        last = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)  # largest valid threshold
        percentiles[has, k] = thresholds[last[has]]
    return Certificate(
        budgets=b,
        expected=expected,
        percentiles=percentiles,
        levels=tuple(float(v) for v in level_arr),
        clean_mean=float(x.mean()),
        n=int(x.size),
        sigma=sigma,
        alpha=float(alpha),
        method=method,
        lower_bound=float(lower_bound),
    )
