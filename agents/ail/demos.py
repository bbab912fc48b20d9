"""Expert demonstrations for adversarial imitation, generated from advrl zoo policies.

A zoo MuJoCo policy acts on ``VecNormalize``-d observations; the discriminator and the
learner see the env's *raw* observations. :func:`expert_demonstrations` therefore steps a raw
env, normalises a copy of each observation with the policy's frozen statistics only to pick
the expert's action, and stores the raw ``(obs, action, next_obs, done)``.

Trajectories are subsampled as in GAIL (Ho & Ermon 2016) and the liayn reference
(``helpers/dataset.py``): every 20th transition from a random offset in ``[0, 20)``, so a few
expert episodes give a small, decorrelated demonstration set.

Files are ``.npz`` without pickled objects (``np.load(..., allow_pickle=False)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

FIELDS = ("obs", "actions", "next_obs", "dones")


@dataclass(frozen=True)
class Demonstrations:
    """Expert transitions as arrays.

    Attributes:
        obs: raw observations, shape ``(n, *obs_shape)``.
        actions: expert actions, shape ``(n, *action_shape)``.
        next_obs: raw next observations, shape ``(n, *obs_shape)``.
        dones: whether the transition ended its episode by termination, shape ``(n,)``.
        episode_returns: the expert's undiscounted true return per source episode (before
            subsampling), shape ``(episodes,)``.
        episode_lengths: steps per source episode, shape ``(episodes,)``.

    Raises:
        ValueError: no transitions, or the arrays disagree in length or shape.

    Example:
        >>> d = Demonstrations(np.zeros((2, 3)), np.zeros((2, 1)), np.ones((2, 3)), np.zeros(2))
        >>> len(d), d.obs_shape, d.action_shape
        (2, (3,), (1,))
    """

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    dones: np.ndarray
    episode_returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    episode_lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        arrays = {k: np.asarray(getattr(self, k), dtype=np.float32) for k in FIELDS}
        arrays["dones"] = np.asarray(self.dones, dtype=bool)
        arrays["episode_returns"] = np.asarray(self.episode_returns, dtype=np.float64)
        arrays["episode_lengths"] = np.asarray(self.episode_lengths, dtype=np.int64)
        for k, v in arrays.items():
            object.__setattr__(self, k, v)
        n = len(arrays["obs"]) if arrays["obs"].ndim else 0
        if n == 0:
            raise ValueError("demonstrations are empty: need at least one expert transition")
        lengths = {k: len(arrays[k]) if arrays[k].ndim else 0 for k in FIELDS}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"demonstration arrays differ in length: {lengths}")
        if arrays["obs"].shape != arrays["next_obs"].shape:
            raise ValueError(f"obs {arrays['obs'].shape} and next_obs "
                             f"{arrays['next_obs'].shape} differ in shape")  # fmt: skip
        if arrays["actions"].ndim < 2 or arrays["dones"].ndim != 1:
            raise ValueError(f"actions must be (n, *action_shape) and dones (n,), got "
                             f"{arrays['actions'].shape} and {arrays['dones'].shape}")  # fmt: skip
        if not all(np.isfinite(arrays[k]).all() for k in ("obs", "actions", "next_obs")):
            raise ValueError("demonstrations hold non-finite observations or actions")

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.obs.shape[1:])

    @property
    def action_shape(self) -> tuple[int, ...]:
        return tuple(self.actions.shape[1:])

    @property
    def mean_return(self) -> float:
        """The expert's mean true return over the source episodes (nan if unknown)."""
        return float(self.episode_returns.mean()) if len(self.episode_returns) else math.nan

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Raise ``ValueError`` unless the demonstrations fit these (Box) spaces."""
        for what, space, shape in (("observation", observation_space, self.obs_shape),
                                   ("action", action_space, self.action_shape)):  # fmt: skip
            if not isinstance(space, gym.spaces.Box):
                raise ValueError(f"adversarial imitation needs a Box {what} space, got {space}")
            if tuple(space.shape) != shape:
                raise ValueError(f"demonstration {what}s have shape {shape}, but the env's "
                                 f"{what} space has shape {space.shape}")  # fmt: skip

    def save(self, path: str | Path) -> None:
        """Write the arrays to an ``.npz`` file (no pickled objects)."""
        np.savez(Path(path), **{k: getattr(self, k) for k in (*FIELDS, "episode_returns",
                                                                "episode_lengths")})  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> Demonstrations:
        """Read a file written by :meth:`save`; validates the arrays' shapes.

        Raises:
            FileNotFoundError: no file at ``path``.
            ValueError: a field is missing or the arrays do not fit together.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no demonstrations file at {str(path)!r}")
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in FIELDS if k not in data.files]
            if missing:
                raise ValueError(f"{str(path)!r} lacks demonstration fields {missing}")
            extra = {k: data[k] for k in ("episode_returns", "episode_lengths") if k in data}
            return cls(*(data[k] for k in FIELDS), **extra)


def expert_demonstrations(
    policy: Any,
    episodes: int = 4,
    *,
    subsample: int = 20,
    seed: int = 0,
    deterministic: bool = True,
) -> Demonstrations:
    """Roll out a zoo policy on its raw env and keep subsampled raw transitions.

    Args:
        policy: a :class:`advrl.zoo.ZooPolicy` or a zoo name (``"ppo-hopper"``).
        episodes: expert episodes to roll out (the paper uses few, e.g. 4).
        subsample: keep every ``subsample``-th transition from a random offset (1: keep all).
        seed: seeds the env resets (``seed + episode``) and the subsampling offsets.
        deterministic: the expert takes its mean action.

    Raises:
        ValueError: ``episodes`` or ``subsample`` < 1, or the policy's spaces are not Box.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an int >= 1, got {episodes!r}")
    if isinstance(subsample, bool) or not isinstance(subsample, int) or subsample < 1:
        raise ValueError(f"subsample must be an int >= 1, got {subsample!r}")
    if isinstance(policy, str):
        import advrl.zoo

        policy = advrl.zoo.load(policy)
    env = gym.make(policy.env_id, **policy.env_kwargs)
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(f"{policy.env_id} has a {env.action_space} action space; adversarial "
                         "imitation here needs continuous (Box) actions")  # fmt: skip
    rng = np.random.default_rng(seed)
    stats = policy.obs_stats
    parts: dict[str, list] = {k: [] for k in FIELDS}
    returns, lengths = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        episode: dict[str, list] = {k: [] for k in FIELDS}
        total, done = 0.0, False
        while not done:
            seen = obs if stats is None else _normalize(obs, stats)
            action, _ = policy.model.predict(seen, deterministic=deterministic)
            action = np.clip(action, env.action_space.low, env.action_space.high)
            nxt, reward, term, trunc, _ = env.step(action)
            for k, v in zip(FIELDS, (obs, action, nxt, term), strict=True):
                episode[k].append(v)
            total += float(reward)
            obs, done = nxt, term or trunc
        returns.append(total)
        lengths.append(len(episode["obs"]))
        start = int(rng.integers(subsample)) if subsample > 1 else 0
        keep = np.arange(start, lengths[-1], subsample)
        for k in FIELDS:
            parts[k].append(np.asarray(episode[k])[keep])
    env.close()
    return Demonstrations(*(np.concatenate(parts[k]) for k in FIELDS),
                          episode_returns=np.asarray(returns),
                          episode_lengths=np.asarray(lengths))  # fmt: skip


def _normalize(obs: np.ndarray, stats: Any) -> np.ndarray:
    """SB3 ``VecNormalize``'s observation transform with frozen statistics."""
    out = (obs - stats.mean) / np.sqrt(stats.var + stats.epsilon)
    return np.clip(out, -stats.clip_obs, stats.clip_obs).astype(np.float32)
