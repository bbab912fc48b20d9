"""Trajectory segments and preferences between them, synthetic or given.

Synthetic labels (the standard simulated-teacher protocol of preference RL): a pair of
segments ``(a, b)`` gets label 1 when segment ``a`` scores higher under the true reward,
0 when ``b`` does, 0.5 on a tie; then each label is flipped with probability ``noise``
(25% in Coste et al. 2024's noisy setting). The score is either

- ``"bt"`` (partial return): ``sum_t r(s_t, a_t, s_{t+1})``, or
- ``"regret"`` (Knox et al. 2022, "Models of human preference for learning reward
  functions", eq. 4): the negated regret of the segment. For deterministic transitions
  ``-regret(sigma) = sum_t A*(s_t, a_t) = sum_t r_t + V*(s_T) - V*(s_0)`` (undiscounted,
  the advantages telescope). ``V*`` is unknown in general, so the caller supplies
  ``value_fn`` (an approximation of the true reward's optimal value function, e.g. a critic
  trained on the true reward); the labels are only as regret-faithful as that function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

PREFERENCE_MODELS = ("bt", "regret")


@dataclass(frozen=True)
class Segments:
    """``n`` segments of ``length`` transitions each.

    Attributes:
        obs: shape ``(n, length, *obs_shape)``.
        actions: shape ``(n, length, *act_shape)`` (``(n, length)`` for discrete actions).
        next_obs: shape ``(n, length, *obs_shape)``.
        rewards: true rewards, shape ``(n, length)``.
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray

    def __post_init__(self) -> None:
        shapes = {k: np.shape(getattr(self, k)) for k in ("obs", "actions", "next_obs",
                                                            "rewards")}  # fmt: skip
        lead = shapes["rewards"]
        if len(lead) != 2:
            raise ValueError(f"rewards must have shape (n, length), got {lead}")
        bad = {k: s for k, s in shapes.items() if tuple(s[:2]) != tuple(lead)}
        if bad or shapes["obs"] != shapes["next_obs"] or len(shapes["obs"]) < 3:
            raise ValueError(
                "segments need obs/next_obs (n, length, *obs_shape) of equal shape and "
                f"actions (n, length, ...), rewards (n, length); got {shapes}"
            )

    def __len__(self) -> int:
        return self.rewards.shape[0]

    @property
    def length(self) -> int:
        return self.rewards.shape[1]

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All transitions, ``(n * length, ...)`` each: obs, actions, next_obs."""
        n = len(self) * self.length
        return (self.obs.reshape(n, *self.obs.shape[2:]),
                self.actions.reshape(n, *self.actions.shape[2:]),
                self.next_obs.reshape(n, *self.next_obs.shape[2:]))  # fmt: skip


def rollout_segments(
    env: gym.Env,
    n_segments: int,
    length: int,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
) -> Segments:
    """Cut episodes of ``policy`` (uniform random actions if None) into segments.

    Each episode is cut into consecutive non-overlapping windows of ``length`` steps from a
    random start offset; windows never cross an episode end. The true reward is
    ``info["reward_true"]`` when the env sets it (advrl's contract), else the env's reward.

    Example:
        >>> import gymnasium as gym
        >>> seg = rollout_segments(gym.make("CartPole-v1"), 4, 5)
        >>> seg.obs.shape, seg.rewards.shape
        ((4, 5, 4), (4, 5))
    """
    if n_segments < 1 or length < 1:
        raise ValueError(f"n_segments and length must be >= 1, got {n_segments}, {length}")
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    out: dict[str, list] = {"obs": [], "actions": [], "next_obs": [], "rewards": []}
    episode, short_episodes = 0, 0
    while len(out["rewards"]) < n_segments:
        ep: dict[str, list] = {k: [] for k in out}
        obs, _ = env.reset(seed=seed * 100_003 + episode)
        episode += 1
        done = False
        while not done:
            action = env.action_space.sample() if policy is None else policy(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            for key, value in zip(out, (obs, action, next_obs,
                                        info.get("reward_true", reward)), strict=True):  # fmt: skip
                ep[key].append(np.asarray(value, dtype=np.float32))
            obs, done = next_obs, terminated or truncated
        steps = len(ep["rewards"])
        if steps < length:
            short_episodes += 1
            if short_episodes > 1000:
                raise ValueError(f"episodes are shorter than the segment length {length}")
            continue
        start = int(rng.integers(0, steps % length + 1))
        for s in range(start, steps - length + 1, length):
            if len(out["rewards"]) == n_segments:
                break
            for key in out:
                out[key].append(np.stack(ep[key][s : s + length]))
    return Segments(**{k: np.stack(v) for k, v in out.items()})


@dataclass(frozen=True)
class PreferenceData:
    """Segments and labelled pairs of them.

    Attributes:
        segments: the segments.
        pairs: int indices into ``segments``, shape ``(m, 2)``.
        labels: P(first preferred) targets in [0, 1] (noisy labels), shape ``(m,)``.
        clean_labels: the noiseless labels when known (synthetic data), shape ``(m,)``.
    """

    segments: Segments
    pairs: np.ndarray
    labels: np.ndarray
    clean_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        pairs, labels = np.asarray(self.pairs), np.asarray(self.labels)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or labels.shape != (pairs.shape[0],):
            raise ValueError(
                f"pairs must have shape (m, 2) and labels (m,), got {pairs.shape}, {labels.shape}"
            )
        if self.clean_labels is not None and np.shape(self.clean_labels) != labels.shape:
            raise ValueError(
                f"clean_labels shape {np.shape(self.clean_labels)} != labels {labels.shape}"
            )
        if pairs.size and (pairs.min() < 0 or pairs.max() >= len(self.segments)):
            raise ValueError(
                f"pair indices must lie in [0, {len(self.segments)}), got "
                f"[{pairs.min()}, {pairs.max()}]"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 1):
            raise ValueError(f"labels must lie in [0, 1], got [{labels.min()}, {labels.max()}]")

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, held_out: float, seed: int = 0) -> tuple[PreferenceData, PreferenceData]:
        """(train, held-out) by a random split of the pairs (the segments are shared)."""
        if not 0 < held_out < 1:
            raise ValueError(f"held_out must be in (0, 1), got {held_out!r}")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = len(self) - max(1, int(round(held_out * len(self))))
        parts = []
        for idx in (order[:cut], order[cut:]):
            clean = None if self.clean_labels is None else self.clean_labels[idx]
            parts.append(PreferenceData(self.segments, self.pairs[idx], self.labels[idx], clean))
        return parts[0], parts[1]


def segment_scores(
    segments: Segments,
    model: str = "bt",
    value_fn: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The true score of each segment under a preference model, shape ``(n,)``.

    ``"bt"``: partial return. ``"regret"``: ``sum r + V(s_T) - V(s_0)`` with ``value_fn``
    mapping observations ``(batch, *obs_shape)`` to values ``(batch,)`` (module docstring).
    """
    if model not in PREFERENCE_MODELS:
        raise ValueError(f"unknown preference model {model!r}; allowed: {list(PREFERENCE_MODELS)}")
    scores = segments.rewards.sum(axis=1).astype(np.float64)
    if model == "regret":
        if value_fn is None:
            raise ValueError("the regret preference model needs value_fn (an estimate of V*)")
        v_end = np.asarray(value_fn(segments.next_obs[:, -1]), dtype=np.float64)
        v_start = np.asarray(value_fn(segments.obs[:, 0]), dtype=np.float64)
        if v_end.shape != scores.shape or v_start.shape != scores.shape:
            raise ValueError(
                f"value_fn must return shape ({len(segments)},), got {v_end.shape}"
            )
        scores += v_end - v_start
    return scores


def synthetic_preferences(
    segments: Segments,
    n_pairs: int,
    noise: float = 0.0,
    model: str = "bt",
    value_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
) -> PreferenceData:
    """Random pairs of distinct segments labelled by the true reward, each label flipped with
    probability ``noise`` (a tie, label 0.5, stays 0.5).

    Example:
        >>> import gymnasium as gym
        >>> seg = rollout_segments(gym.make("CartPole-v1"), 6, 3)
        >>> data = synthetic_preferences(seg, 10, noise=0.25)
        >>> data.pairs.shape, data.labels.shape
        ((10, 2), (10,))
    """
    if not 0.0 <= noise <= 0.5:
        raise ValueError(f"noise is a flip probability in [0, 0.5], got {noise!r}")
    if n_pairs < 1 or len(segments) < 2:
        raise ValueError(
            f"need n_pairs >= 1 and >= 2 segments, got {n_pairs} pairs, {len(segments)} segments"
        )
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(segments), n_pairs)
    # a uniform other segment: shift by 1..n-1 so the two always differ
    second = (first + rng.integers(1, len(segments), n_pairs)) % len(segments)
    pairs = np.stack([first, second], axis=1)
    scores = segment_scores(segments, model, value_fn)
    diff = scores[first] - scores[second]
    clean = np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
    flip = rng.random(n_pairs) < noise
    labels = np.where(flip, 1.0 - clean, clean)
    return PreferenceData(segments, pairs, labels, clean)
