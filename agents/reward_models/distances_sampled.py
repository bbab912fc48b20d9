"""EPIC between reward models on any spaces, by sampling, with a bootstrap confidence interval
(Gleave et al. 2021, Sec. 4; the authors' ``epic_sample.sample_canon_shaping``).

A reward is a :class:`~advrl.envs.learned_reward.RewardModel` (``predict(obs, actions,
next_obs) -> (reward, spread)``, e.g. a :class:`RewardNet` or ``RewardEnsemble``) or a
callable ``f(obs, actions, next_obs) -> (batch,)`` (e.g. a true reward). The estimate:

1. the outer sample: ``n_samples`` transitions ``(s_i, a_i, s'_i)`` from the coverage
   distribution ``D``, given as a batch (e.g. rollouts) or a sampler;
2. the mean sample: ``n_mean_samples`` pairs ``(A_j, S'_j)``, ``A_j ~ D_A`` and
   ``S'_j ~ D_S`` drawn independently, by default from the coverage's marginals
   (observations pooled from ``obs`` and ``next_obs``, as the reference does);
3. for every distinct observation ``x`` among ``s_i``, ``s'_i``, ``S'_j``:
   ``m(x) = mean_j R(x, A_j, S'_j)`` and ``mu = mean_k m(S'_k)`` (the ``S`` of EPIC's last
   term reuses the ``S'_j``, as the reference does);
4. ``C(R)_i = R(s_i, a_i, s'_i) + gamma m(s'_i) - m(s_i) - gamma mu``, and the Pearson
   distance :func:`~advrl.agents.reward_models.distances.pearson_distance` over ``i``.

The interval is a percentile bootstrap: each of ``n_boot`` replicates redraws the outer
sample with replacement and, with ``resample_means`` (default), the mean sample too, and
recomputes steps 3-4, so it covers both sources of sampling error. Replicates are paired
across rewards (one set of redraws), so differences between distances can be bootstrapped.
When ``D`` is a tabular MDP's transitions embedded in observations, the estimate converges
to :func:`~advrl.agents.reward_models.distances.epic_distance` with that coverage and
``D_S``, ``D_A`` (tested).

Differences from the reference: its interval bootstraps the mean of distances over
independent seeds (3 by default), not the transition sample; its defaults
(``n_samples = n_mean_samples = 4096``, ``gamma = 0.99``, 1000 replicates, 95%) are kept.
It normalises canonical rewards by their L1 norm before the Pearson distance, which does not
change it, so that step is left out.

Cost: ``(n_unique_obs x n_mean_samples)`` reward evaluations per reward, in chunks of
``chunk_size``; the replicates hold ``8 n_unique_obs n_boot`` bytes per reward (two rewards
at a time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advrl.agents.reward_models.distances import RELATIVE_ZERO, check_gamma, pearson_distance
from advrl.envs.learned_reward import RewardModel, predict_rewards

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]
Reward = RewardModel | Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
TransitionSampler = Callable[[int, np.random.Generator], Batch]
Sampler = Callable[[int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class DistanceEstimate:
    """A sampled distance and its bootstrap interval ``[low, high]`` at ``level``.

    ``replicates``: the bootstrap distances, shape ``(n_boot,)`` (NaN where a replicate's
    canonical reward was constant); ``low`` / ``high`` are NaN when ``n_boot = 0``.
    """

    distance: float
    low: float
    high: float
    level: float
    replicates: np.ndarray = field(repr=False)

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies in the interval."""
        return bool(self.low <= value <= self.high)


def evaluate_reward(
    reward: Reward, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray
) -> np.ndarray:
    """Rewards of a batch, float64 ``(batch,)``: ``reward.predict`` for a reward model, else
    ``reward(obs, actions, next_obs)``; a ``ValueError`` unless finite and ``(batch,)``."""
    if isinstance(reward, RewardModel):
        return predict_rewards(reward, obs, actions, next_obs)[0].astype(np.float64)
    if not callable(reward):
        raise TypeError(f"a reward is a RewardModel (predict) or a callable f(obs, actions, "
                        f"next_obs), got {type(reward).__name__}")  # fmt: skip
    out = np.asarray(reward(obs, actions, next_obs), dtype=np.float64)
    if out.shape != (len(obs),) or not np.all(np.isfinite(out)):
        raise ValueError(f"a reward must return finite values of shape ({len(obs)},), got "
                         f"shape {out.shape}")  # fmt: skip
    return out


@dataclass(frozen=True)
class EpicSample:
    """The draws one estimate uses: the outer sample ``obs``, ``actions``, ``next_obs``
    (``(n, ...)``) and the mean sample ``mean_actions``, ``mean_next_obs`` (``(n_mean, ...)``)."""

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    mean_actions: np.ndarray
    mean_next_obs: np.ndarray


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _checked_batch(batch: Any, n: int | None, source: str) -> Batch:
    if not isinstance(batch, tuple | list) or len(batch) != 3:
        raise TypeError(f"{source} must be (obs, actions, next_obs) arrays, got "
                        f"{type(batch).__name__}")  # fmt: skip
    obs, actions, next_obs = (np.asarray(x) for x in batch)
    if obs.ndim < 2 or obs.shape != next_obs.shape or len(actions) != len(obs):
        raise ValueError(
            f"{source}: need obs and next_obs of one shape (n, *obs_shape) and n actions, "
            f"got {obs.shape}, {actions.shape}, {next_obs.shape}"
        )
    if n is not None and len(obs) != n:
        raise ValueError(f"{source} returned {len(obs)} transitions, asked for {n}")
    return obs, actions, next_obs


def draw_epic_sample(
    coverage: Batch | TransitionSampler,
    n_samples: int | None = None,
    n_mean_samples: int = 4096,
    obs_dist: Sampler | None = None,
    act_dist: Sampler | None = None,
    rng: np.random.Generator | int = 0,
) -> EpicSample:
    """Draw the outer and mean samples (module docstring).

    Args:
        coverage: ``(obs, actions, next_obs)`` arrays, every row a transition of ``D``; or a
            sampler ``f(n, rng) -> (obs, actions, next_obs)``.
        n_samples: outer-sample size. A sampler draws this many (default 4096); from a
            batch, None takes every row and a smaller number a random subset.
        n_mean_samples: ``(A, S')`` pairs estimating the expectations (default 4096).
        obs_dist, act_dist: ``f(n, rng) -> (n, ...)`` samplers of ``D_S`` and ``D_A``
            (default: the coverage's marginals).
        rng: a ``numpy.random.Generator`` or a seed.
    """
    rng = np.random.default_rng(rng)
    n_mean = _check_count(n_mean_samples, "n_mean_samples", 1)
    if n_samples is not None:
        _check_count(n_samples, "n_samples", 2)
    if callable(coverage):
        n = 4096 if n_samples is None else n_samples
        obs, actions, next_obs = _checked_batch(coverage(n, rng), n, "the coverage sampler")
        marginal: Batch | None = None
    else:
        obs, actions, next_obs = _checked_batch(coverage, None, "coverage")
        if len(obs) < 2 or (n_samples is not None and n_samples > len(obs)):
            raise ValueError(f"n_samples must be between 2 and the batch's {len(obs)} rows, "
                             f"got {n_samples}")  # fmt: skip
        if n_samples is not None and n_samples < len(obs):
            keep = rng.choice(len(obs), n_samples, replace=False)
            obs, actions, next_obs = obs[keep], actions[keep], next_obs[keep]
        marginal = (obs, actions, next_obs)
    if obs_dist is None:
        if marginal is None:
            o, _, o2 = _checked_batch(coverage((n_mean + 1) // 2, rng), (n_mean + 1) // 2,
                                      "the coverage sampler")  # fmt: skip
            mean_next_obs = np.concatenate([o, o2])[:n_mean]
        else:
            pooled = np.concatenate([marginal[0], marginal[2]])
            mean_next_obs = pooled[rng.integers(0, len(pooled), n_mean)]
    else:
        mean_next_obs = np.asarray(obs_dist(n_mean, rng))
    if act_dist is None:
        if marginal is None:
            mean_actions = _checked_batch(coverage(n_mean, rng), n_mean,
                                          "the coverage sampler")[1]  # fmt: skip
        else:
            mean_actions = actions[rng.integers(0, len(actions), n_mean)]
    else:
        mean_actions = np.asarray(act_dist(n_mean, rng))
    if mean_next_obs.shape != (n_mean, *obs.shape[1:]):
        raise ValueError(f"obs_dist must return shape ({n_mean}, *{obs.shape[1:]}), got "
                         f"{mean_next_obs.shape}")  # fmt: skip
    if mean_actions.shape != (n_mean, *actions.shape[1:]):
        raise ValueError(f"act_dist must return shape ({n_mean}, *{actions.shape[1:]}), got "
                         f"{mean_actions.shape}")  # fmt: skip
    return EpicSample(obs, actions, next_obs, mean_actions, mean_next_obs)


class _Canon:
    """One reward's pieces on a sample: the batch rewards and ``m`` on the distinct
    observations, with its bootstrap replicates ``m_b`` (``(n_unique, n_boot)``)."""

    def __init__(
        self, reward: Reward, sample: EpicSample, index: _Index,
        boot_means: np.ndarray | None, chunk: int,
    ) -> None:  # fmt: skip
        s = sample
        n_mean = len(s.mean_actions)
        self.r = np.concatenate([
            evaluate_reward(reward, s.obs[i:i + chunk], s.actions[i:i + chunk],
                            s.next_obs[i:i + chunk]) for i in range(0, len(s.obs), chunk)
        ])  # fmt: skip
        rows, n_unique = max(1, chunk // n_mean), len(index.unique)
        self.m = np.empty(n_unique)  # m(x) = mean_j R(x, A_j, S'_j) (module docstring, step 3)
        self.m_b = None if boot_means is None else np.empty((n_unique, boot_means.shape[1]))
        for start in range(0, n_unique, rows):
            x = index.unique[start : start + rows]
            obs = np.repeat(x, n_mean, axis=0)
            acts = np.tile(s.mean_actions, (len(x),) + (1,) * (s.mean_actions.ndim - 1))
            nxt = np.tile(s.mean_next_obs, (len(x),) + (1,) * (s.mean_next_obs.ndim - 1))
            block = evaluate_reward(reward, obs, acts, nxt).reshape(len(x), n_mean)
            self.m[start : start + len(x)] = block.mean(axis=1)
            if self.m_b is not None:
                self.m_b[start : start + len(x)] = block @ boot_means
        self.scale = max(np.abs(self.r).max(), np.abs(self.m).max())

    def canonical(self, index: _Index, gamma: float) -> np.ndarray:
        """``C(R)`` on the outer sample (module docstring, step 4), shape ``(n,)``."""
        mu = self.m[index.mean].mean()
        return self.r + gamma * self.m[index.next] - self.m[index.obs] - gamma * mu

    def replicates(
        self, index: _Index, gamma: float, rows: np.ndarray, boot_means: np.ndarray | None,
        cols: slice,
    ) -> np.ndarray:  # fmt: skip
        """Canonical rewards of replicates ``cols``: shape ``(n, len(cols))``."""
        if self.m_b is None:
            return self.canonical(index, gamma)[rows]
        m_b = self.m_b[:, cols]
        b = np.arange(m_b.shape[1])
        mu = (boot_means[:, cols] * m_b[index.mean]).sum(axis=0)  # weights sum to 1
        return (self.r[rows] + gamma * m_b[index.next[rows], b] - m_b[index.obs[rows], b]
                - gamma * mu)  # fmt: skip


@dataclass(frozen=True)
class _Index:
    """The distinct observations and where each sampled one sits among them."""

    unique: np.ndarray
    obs: np.ndarray
    next: np.ndarray
    mean: np.ndarray

    @classmethod
    def of(cls, sample: EpicSample) -> _Index:
        n, n_mean = len(sample.obs), len(sample.mean_next_obs)
        pooled = np.concatenate([sample.obs, sample.next_obs, sample.mean_next_obs])
        flat = pooled.reshape(len(pooled), -1)
        _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        return cls(pooled[first], inverse[:n], inverse[n : 2 * n], inverse[2 * n : 2 * n + n_mean])


def _column_distances(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """Pearson distance of each column pair of ``(n, B)`` arrays; NaN for a constant column."""
    da, db = a - a.mean(axis=0), b - b.mean(axis=0)
    sa, sb = np.sqrt((da**2).mean(axis=0)), np.sqrt((db**2).mean(axis=0))
    floor = RELATIVE_ZERO * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip((da * db).mean(axis=0) / (sa * sb), -1.0, 1.0)
    rho[(sa <= floor) | (sb <= floor)] = np.nan
    return np.sqrt((1.0 - rho) / 2.0)


def sample_epic_distances(
    rewards: Sequence[Reward],
    reference: Reward,
    coverage: Batch | TransitionSampler | EpicSample,
    gamma: float = 0.99,
    n_samples: int | None = None,
    n_mean_samples: int = 4096,
    obs_dist: Sampler | None = None,
    act_dist: Sampler | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    resample_means: bool = True,
    rng: np.random.Generator | int = 0,
    chunk_size: int = 65536,
) -> list[DistanceEstimate]:
    """Sampled EPIC from each of ``rewards`` to ``reference``, on one sample (module docstring).

    Args:
        rewards: reward models or callables (module docstring).
        reference: the reward they are compared to (e.g. the true reward).
        coverage: see :func:`draw_epic_sample`, or an :class:`EpicSample` already drawn.
        gamma: discount in ``[0, 1]``.
        n_samples, n_mean_samples, obs_dist, act_dist: see :func:`draw_epic_sample`.
        n_boot: bootstrap replicates (0: no interval).
        level: the interval's confidence level, in ``(0, 1)``.
        resample_means: redraw the mean sample in each replicate too.
        rng: a ``numpy.random.Generator`` or a seed, for the draws and the bootstrap.
        chunk_size: transitions per reward-model call.

    Example:
        >>> obs = np.random.default_rng(0).normal(size=(200, 2))
        >>> batch = (obs[:-1], np.zeros((199, 1)), obs[1:])
        >>> true = lambda o, a, o2: o2[:, 0]
        >>> shaped = lambda o, a, o2: 3 * o2[:, 0] + 0.9 * o2[:, 1] - o[:, 1]
        >>> est = sample_epic_distances([shaped], true, batch, gamma=0.9, n_mean_samples=64,
        ...                             n_boot=100)[0]
        >>> round(est.distance, 6), est.covers(0.0)
        (0.0, True)
    """
    gamma = check_gamma(gamma, allow_one=True)
    n_boot = _check_count(n_boot, "n_boot", 0)
    chunk = _check_count(chunk_size, "chunk_size", 1)
    if not (isinstance(level, float | int) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    rng = np.random.default_rng(rng)
    sample = coverage if isinstance(coverage, EpicSample) else draw_epic_sample(
        coverage, n_samples, n_mean_samples, obs_dist, act_dist, rng)  # fmt: skip
    index = _Index.of(sample)
    n, n_mean = len(sample.obs), len(sample.mean_actions)
    rows = rng.integers(0, n, size=(n, n_boot))
    boot_means = None
    if resample_means and n_boot:
        boot_means = rng.multinomial(n_mean, np.full(n_mean, 1.0 / n_mean), size=n_boot).T / n_mean
    ref = _Canon(reference, sample, index, boot_means, chunk)
    ref_canon = ref.canonical(index, gamma)
    out = []
    for reward in rewards:
        canon = _Canon(reward, sample, index, boot_means, chunk)
        scale = max(ref.scale, canon.scale)
        distance = pearson_distance(canon.canonical(index, gamma), ref_canon, scale=scale)
        replicates = np.empty(n_boot)
        for start in range(0, n_boot, 128):  # bounds the (n, columns) working arrays
            cols = slice(start, min(n_boot, start + 128))
            r = rows[:, cols]
            replicates[cols] = _column_distances(
                canon.replicates(index, gamma, r, boot_means, cols),
                ref.replicates(index, gamma, r, boot_means, cols), scale)  # fmt: skip
        tail = 100 * (1 - level) / 2
        low, high = (np.nanpercentile(replicates, [tail, 100 - tail]) if n_boot
                     else (math.nan, math.nan))  # fmt: skip
        out.append(DistanceEstimate(distance, float(low), float(high), float(level), replicates))
    return out


def sample_epic_distance(
    reward_a: Reward, reward_b: Reward, coverage: Batch | TransitionSampler | EpicSample, **kwargs
) -> DistanceEstimate:
    """Sampled EPIC between two rewards: :func:`sample_epic_distances` for one pair."""
    return sample_epic_distances([reward_a], reward_b, coverage, **kwargs)[0]
