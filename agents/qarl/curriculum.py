"""The QARL temperature curriculum: Gamma distributions over the adversary's temperature.

Pure maths, no RL plumbing. QARL (Reddi et al., ICLR 2024) samples the adversary's entropy
temperature per episode from ``Gamma(c, rate)`` and moves the concentration ``c`` from a
bounded-rationality start (c = 50, mean 0.05 at rate 1000) towards near-rationality
(c = 1, mean 0.001) with a self-paced step (Klink et al.'s SPRL)::

    minimise   KL(Gamma(c) || Gamma(c_target))
    subject to KL(Gamma(c) || Gamma(c_old)) <= kl_bound,
               J(c) >= floor,

where ``J(c)`` is the protagonist's return under the new distribution, estimated by
self-normalised importance sampling from episodes played under ``Gamma(c_old)``. The
curriculum stays frozen until the protagonist first reaches the floor.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special, stats


def gamma_kl(a1: float, b1: float, a2: float, b2: float) -> float:
    """KL(Gamma(a1, rate b1) || Gamma(a2, rate b2)) in closed form:

    ``(a1 - a2) psi(a1) - ln G(a1) + ln G(a2) + a2 (ln b1 - ln b2) + a1 (b2 - b1) / b1``.
    """
    for name, value in (("a1", a1), ("b1", b1), ("a2", a2), ("b2", b2)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"Gamma parameters must be finite and > 0, got {name}={value!r}")
    return float(
        (a1 - a2) * special.digamma(a1)
        - special.gammaln(a1)
        + special.gammaln(a2)
        + a2 * (math.log(b1) - math.log(b2))
        + a1 * (b2 - b1) / b1
    )


def importance_estimate(
    c_new: float, c_old: float, rate: float, alphas: np.ndarray, returns: np.ndarray
) -> float:
    """Self-normalised IS estimate of the mean return under ``Gamma(c_new, rate)`` from
    episodes whose temperatures ``alphas`` were drawn from ``Gamma(c_old, rate)``."""
    log_w = stats.gamma.logpdf(alphas, c_new, scale=1 / rate) - stats.gamma.logpdf(
        alphas, c_old, scale=1 / rate
    )
    w = np.exp(log_w - log_w.max())
    return float(np.sum(w * returns) / np.sum(w))


def self_paced_step(
    c_old: float,
    alphas: np.ndarray,
    returns: np.ndarray,
    *,
    c_target: float = 1.0,
    rate: float = 1000.0,
    kl_bound: float = 0.5,
    floor: float = 0.0,
) -> float:
    """One self-paced update of the concentration (see the module docstring).

    Returns ``c_old`` when no move keeps both constraints (e.g. the protagonist is below the
    floor). Solved with scipy's SLSQP on ``log c``, then checked; if the solver's point
    violates a constraint, the largest feasible move along the same direction is taken.
    """
    alphas, returns = np.asarray(alphas, float), np.asarray(returns, float)
    if alphas.shape != returns.shape or alphas.size == 0:
        raise ValueError(
            f"alphas and returns must be non-empty and the same shape, got "
            f"{alphas.shape} and {returns.shape}"
        )
    if kl_bound <= 0:
        raise ValueError(f"kl_bound must be > 0, got {kl_bound!r}")

    def trust(c: float) -> float:
        return kl_bound - gamma_kl(c, rate, c_old, rate)

    def performance(c: float) -> float:
        return importance_estimate(c, c_old, rate, alphas, returns) - floor

    def feasible(c: float) -> bool:
        return trust(c) >= -1e-9 and performance(c) >= -1e-9

    if not feasible(c_old):
        return c_old
    result = optimize.minimize(
        lambda x: gamma_kl(math.exp(x[0]), rate, c_target, rate),
        x0=[math.log(c_old)],
        method="SLSQP",
        bounds=[(math.log(min(c_old, c_target)), math.log(max(c_old, c_target)))],
        constraints=[
            {"type": "ineq", "fun": lambda x: trust(math.exp(x[0]))},
            {"type": "ineq", "fun": lambda x: performance(math.exp(x[0]))},
        ],
    )
    c_new = math.exp(float(result.x[0]))
    if feasible(c_new):
        return c_new
    # Back off towards c_old (feasible) by bisection in log space.
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        c = math.exp(math.log(c_old) + mid * (math.log(c_new) - math.log(c_old)))
        lo, hi = (mid, hi) if feasible(c) else (lo, mid)
    return math.exp(math.log(c_old) + lo * (math.log(c_new) - math.log(c_old)))


class GammaTemperature:
    """A mutable ``Gamma(concentration, rate)`` shared by every env copy and the curriculum."""

    def __init__(self, concentration: float = 50.0, rate: float = 1000.0) -> None:
        gamma_kl(concentration, rate, concentration, rate)  # validates both
        self.concentration, self.rate = float(concentration), float(rate)

    @property
    def mean(self) -> float:
        return self.concentration / self.rate

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.gamma(self.concentration, 1.0 / self.rate))


class SelfPacedCurriculum:
    """Collect (temperature, protagonist return) per episode; every ``update_every`` episodes
    take a :func:`self_paced_step`. Frozen until the mean return first reaches ``floor``."""

    def __init__(
        self,
        temperature: GammaTemperature,
        *,
        c_target: float = 1.0,
        kl_bound: float = 0.5,
        floor: float = 0.0,
        update_every: int = 30,
    ) -> None:
        self.temperature = temperature
        self.c_target, self.kl_bound, self.floor = c_target, kl_bound, floor
        self.update_every = update_every
        self.unlocked = False
        self.alphas: list[float] = []
        self.returns: list[float] = []
        self.history: list[float] = [temperature.concentration]

    def record(self, alpha: float, protagonist_return: float) -> None:
        self.alphas.append(alpha)
        self.returns.append(protagonist_return)
        if len(self.alphas) >= self.update_every:
            self.update()

    def update(self) -> float:
        alphas, returns = np.array(self.alphas), np.array(self.returns)
        self.alphas, self.returns = [], []
        self.unlocked = self.unlocked or returns.mean() >= self.floor
        if self.unlocked:
            self.temperature.concentration = self_paced_step(
                self.temperature.concentration, alphas, returns, c_target=self.c_target,
                rate=self.temperature.rate, kl_bound=self.kl_bound, floor=self.floor,
            )  # fmt: skip
        self.history.append(self.temperature.concentration)
        return self.temperature.concentration


class LinearCurriculum:
    """The linear-schedule variant: ``c`` moves from its start to ``c_target`` in
    ``n_updates`` equal steps, one per ``update_every`` episodes."""

    def __init__(
        self,
        temperature: GammaTemperature,
        *,
        c_target: float = 1.0,
        n_updates: int = 20,
        update_every: int = 30,
    ) -> None:
        self.temperature, self.c_target = temperature, c_target
        self.step_size = (c_target - temperature.concentration) / n_updates
        self.update_every, self._count = update_every, 0
        self.history: list[float] = [temperature.concentration]

    def record(self, alpha: float, protagonist_return: float) -> None:
        self._count += 1
        if self._count % self.update_every == 0:
            c, target = self.temperature.concentration, self.c_target
            # One step towards the target, stopping on it.
            self.temperature.concentration = float(
                max(c + self.step_size, target)
                if self.step_size < 0
                else min(c + self.step_size, target)
            )
            self.history.append(self.temperature.concentration)
