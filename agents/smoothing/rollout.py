"""Batched Monte Carlo rollouts of a smoothed agent, clean or under an adaptive attack.

Certificates need thousands of episodes. Here a Gymnasium vector env (CartPole's is pure
numpy) steps many episodes at once and the policy is called once per step for all of them;
noise, frame stacking and the adversary are batched too. Semantics match
:func:`advrl.agents.smoothing.envs.smoothed_env`: the adversary perturbs each new raw frame,
smoothing noise is added to it once, then the frame joins the stack.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch as th
from tqdm.auto import tqdm

from advrl.agents.smoothing.wrappers import check_sigma
from advrl.types import TorchPolicy


@dataclass(frozen=True)
class SmoothedTask:
    """What a smoothed agent acts in: base task, noise, stacking and horizon."""

    env_id: str
    sigma: float
    frame_stack: int = 1
    max_episode_steps: int | None = None

    def __post_init__(self) -> None:
        check_sigma(self.sigma)
        if self.env_id not in gym.registry:
            raise ValueError(f"unknown env id {self.env_id!r}")

    @classmethod
    def from_zoo(cls, victim: Any, sigma: float | None = None) -> SmoothedTask:
        """The task a zoo policy trained on a smoothed env id (its card's env kwargs)."""
        return cls.from_env(victim.env_id, victim.env_kwargs, victim.name, sigma)

    @classmethod
    def from_env(
        cls, env_id: str, env_kwargs: dict, name: str = "policy", sigma: float | None = None
    ) -> SmoothedTask:
        """The task behind a smoothed env id and its kwargs (e.g. advrl/SmoothedCartPole-v0)."""
        spec_kwargs = dict(gym.spec(env_id).kwargs) | dict(env_kwargs)
        if "sigma" not in spec_kwargs:
            raise ValueError(f"zoo policy {name!r} was not trained with smoothing noise")
        return cls(
            env_id=spec_kwargs["env_id"],
            sigma=float(sigma if sigma is not None else spec_kwargs["sigma"]),
            frame_stack=int(spec_kwargs.get("frame_stack", 1)),
            max_episode_steps=spec_kwargs.get("max_episode_steps"),
        )

    @property
    def horizon(self) -> int:
        return self.max_episode_steps or gym.spec(self.env_id).max_episode_steps

    def make_vec(self, n_envs: int) -> gym.vector.VectorEnv:
        mode = "vector_entry_point" if gym.spec(self.env_id).vector_entry_point else "sync"
        kwargs = {} if self.max_episode_steps is None else {"max_episode_steps": self.horizon}
        return gym.make_vec(self.env_id, num_envs=n_envs, vectorization_mode=mode, **kwargs)


@dataclass(frozen=True)
class FrameHistory:
    """The previous noisy frames of each env's stack.

    ``previous: shape (n, k - 1, *obs_shape)``, or None before an episode's first frame,
    when the stack is padded with copies of that first (noisy) frame.
    """

    k: int
    previous: th.Tensor | None = None

    def policy_input(self, noisy: th.Tensor) -> th.Tensor:
        """The stacked observation once ``noisy: (n, *obs_shape)`` joins the stack."""
        if self.k == 1:
            return noisy
        new = noisy.unsqueeze(1)
        prev = self.previous
        if prev is None:
            prev = new.expand(-1, self.k - 1, *noisy.shape[1:])
        return th.cat([prev, new], dim=1)

    def repeat(self, times: int) -> FrameHistory:
        """The same history for ``times`` stacked copies of the batch (noise samples)."""
        if self.previous is None:
            return self
        return FrameHistory(self.k, self.previous.repeat(times, *[1] * (self.previous.ndim - 1)))


class EpisodeAttack(Protocol):
    """An adversary that perturbs each new frame, with state across an episode."""

    def reset(self, n_envs: int) -> None: ...

    def __call__(
        self,
        frame: th.Tensor,
        history: FrameHistory,
        policy: TorchPolicy,
        generator: th.Generator,
    ) -> th.Tensor:
        """Perturbation of ``frame: (n_envs, *obs_shape)`` in raw units."""
        ...


@dataclass(frozen=True)
class RolloutResult:
    returns: np.ndarray
    seconds: float
    applied_budget: np.ndarray | None = None
    """Per episode, the total l_2 norm of the perturbations the adversary applied."""

    @property
    def episodes_per_second(self) -> float:
        return len(self.returns) / self.seconds


def smoothed_rollouts(
    policy: TorchPolicy,
    task: SmoothedTask,
    n_episodes: int,
    *,
    n_envs: int = 1000,
    seed: int = 0,
    attack: EpisodeAttack | None = None,
    progress: bool = False,
) -> RolloutResult:
    """Total rewards of ``n_episodes`` episodes of the smoothed policy (deterministic base
    policy on noisy observations), in rounds of ``n_envs`` parallel episodes.

    Round ``r`` resets its vector env with seed ``seed + r * n_envs`` and draws its noise
    (and the adversary's) from generators seeded from the same number, so the same
    ``seed`` and ``n_envs`` reproduce the same returns.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes!r}")
    n_envs = min(n_envs, n_episodes)
    venv = task.make_vec(n_envs)
    returns, spent = [], []
    start = time.perf_counter()
    rounds = math.ceil(n_episodes / n_envs)
    bar = tqdm(total=n_episodes, desc="episodes", unit="ep", disable=not progress)
    with bar, th.no_grad():
        for r in range(rounds):
            ret, used = _one_round(policy, task, venv, seed + r * n_envs, attack)
            keep = min(n_envs, n_episodes - r * n_envs)
            returns.append(ret[:keep])
            spent.append(used[:keep])
            bar.update(keep)
    venv.close()
    return RolloutResult(
        returns=np.concatenate(returns),
        seconds=time.perf_counter() - start,
        applied_budget=np.sqrt(np.concatenate(spent)) if attack is not None else None,
    )


def _one_round(
    policy: TorchPolicy,
    task: SmoothedTask,
    venv: gym.vector.VectorEnv,
    seed: int,
    attack: EpisodeAttack | None,
) -> tuple[np.ndarray, np.ndarray]:
    n = venv.num_envs
    noise_gen = th.Generator().manual_seed(seed)
    attack_gen = th.Generator().manual_seed(seed + 1)
    obs, _ = venv.reset(seed=seed)
    if attack is not None:
        attack.reset(n)
    history = FrameHistory(task.frame_stack)
    alive = np.ones(n, dtype=bool)
    returns = np.zeros(n)
    spent = np.zeros(n)
    for _ in range(task.horizon):
        frame = th.as_tensor(obs, dtype=th.float32)
        if attack is not None:
            with th.enable_grad():
                delta = attack(frame, history, policy, attack_gen).detach()
            spent += alive * delta.reshape(n, -1).pow(2).sum(dim=1).double().numpy()
            frame = frame + delta
        noisy = frame + task.sigma * th.randn(frame.shape, generator=noise_gen)
        stacked = history.policy_input(noisy)
        action = policy.action(policy.normalize(stacked)).cpu().numpy()
        if history.k > 1:
            history = FrameHistory(history.k, stacked[:, 1:])
        obs, reward, terminated, truncated, _ = venv.step(action)
        returns += alive * reward
        alive &= ~(terminated | truncated)
        if not alive.any():
            break
    return returns, spent
