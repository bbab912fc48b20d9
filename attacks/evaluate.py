"""Evaluate an SB3 model under an observation attack (the SA-PPO protocol)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from advrl.attacks.apply import check_space
from advrl.attacks.base import check_attack, check_int
from advrl.attacks.wrappers import VecPerturbObservation
from advrl.policies import check_policy, from_sb3
from advrl.progress import check_progress_bar, progress
from advrl.types import AttackSpace, ObservationAttack, TorchPolicy
from advrl.zoo import ObsStats, ZooPolicy, frozen_vec_normalize


@dataclass(frozen=True)
class EvalResult:
    """Episode returns and lengths under attack, and the perturbation sizes applied."""

    returns: np.ndarray
    lengths: np.ndarray
    mean_attack_norm: float
    max_attack_norm: float
    steps: int
    seconds: float

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("nan")


def _raw_vec_env(env: str | Callable[[], gym.Env] | VecEnv, n_envs: int, env_kwargs) -> VecEnv:
    if isinstance(env, VecEnv):
        return env
    if isinstance(env, str):
        if env not in gym.registry:
            raise ValueError(f"unknown env id {env!r}; see gymnasium.registry or `advrl list`")
        return DummyVecEnv([lambda: Monitor(gym.make(env, **env_kwargs))] * n_envs)
    if callable(env):
        return DummyVecEnv([lambda: Monitor(env())] * n_envs)
    raise TypeError(f"env must be an env id, an env factory or a VecEnv, got {type(env).__name__}")


def _check_model(model: object) -> None:
    if isinstance(model, BaseAlgorithm | ZooPolicy):
        return
    if isinstance(model, str):
        raise TypeError(
            f"model must be a stable-baselines3 model or a ZooPolicy, got the string {model!r}; "
            f"load it with advrl.zoo.load({model!r})"
        )
    raise TypeError(
        f"model must be a stable-baselines3 model or a ZooPolicy, got {type(model).__name__}"
    )


def evaluate_under_attack(
    model: BaseAlgorithm | ZooPolicy,
    env: str | Callable[[], gym.Env] | VecEnv | None,
    attack: ObservationAttack | None,
    n_episodes: int = 50,
    *,
    obs_stats: ObsStats | None = None,
    policy: TorchPolicy | None = None,
    n_envs: int = 1,
    seed: int = 0,
    deterministic: bool = True,
    space: AttackSpace = "normalized",
    env_kwargs: dict[str, Any] | None = None,
    progress_bar: bool = False,
) -> EvalResult:
    """Run ``n_episodes`` episodes of ``model`` with ``attack`` on every observation.

    The stack is ``VecNormalize(frozen obs_stats)`` over ``VecPerturbObservation`` over the
    raw envs, evaluated by SB3's ``evaluate_policy`` (episodes split evenly over envs, so the
    result does not depend on which env finishes first).

    Args:
        model: SB3 model, or a :class:`~advrl.zoo.ZooPolicy` (then ``env``, ``obs_stats``
            default to the zoo entry's).
        env: env id, env factory, or a VecEnv emitting raw observations.
        attack: the attack, or None for clean evaluation.
        obs_stats: the model's observation normaliser, if it was trained with one.
        policy: the victim the attack differentiates (default: ``from_sb3(model)``).
        n_envs: parallel envs (one batched attack call per step for all of them).
        seed: seeds env ``i`` with ``seed + i`` and the attack generator from ``seed``.
        progress_bar: show a tqdm bar over the episodes.

    Raises:
        TypeError: a model, attack or policy of the wrong kind (an attack name or a zoo name
            says what to call), or a non-integer count or seed.
        ValueError: a count below 1, a negative seed, an unknown env id or attack space.

    Example:
        >>> import advrl.zoo
        >>> from advrl.attacks import evaluate_under_attack, make_attack
        >>> victim = advrl.zoo.load("ppo-cartpole")
        >>> result = evaluate_under_attack(victim, None, make_attack("fgsm", 0.1), n_episodes=2)
        >>> len(result.returns)
        2
    """
    # Every argument is checked before any env is built.
    _check_model(model)
    n_episodes = check_int(n_episodes, "n_episodes", minimum=1)
    n_envs = check_int(n_envs, "n_envs", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    check_attack(attack, allow_none=True)
    if policy is not None:
        check_policy(policy)
    check_space(space)
    check_progress_bar(progress_bar)
    if env_kwargs is not None and not isinstance(env_kwargs, dict):
        raise TypeError(f"env_kwargs must be a dict or None, got {env_kwargs!r}")
    if isinstance(model, ZooPolicy):
        env = env if env is not None else model.env_id
        env_kwargs = env_kwargs if env_kwargs is not None else model.env_kwargs
        obs_stats = obs_stats if obs_stats is not None else model.obs_stats
        model = model.model
    if env is None:
        raise ValueError("env is required unless model is a ZooPolicy")
    venv = _raw_vec_env(env, n_envs, env_kwargs or {})
    venv.seed(seed)
    if attack is not None:
        victim = policy if policy is not None else from_sb3(model, obs_stats=obs_stats)
        venv = VecPerturbObservation(venv, attack, victim, space=space, seed=seed)
    venv = frozen_vec_normalize(venv, obs_stats)

    norms: list[float] = []

    def record(locals_: dict[str, Any], _globals: dict[str, Any]) -> None:
        info = locals_["info"]
        norms.append(info.get("attack_norm", 0.0))
        # An episode counts where evaluate_policy counts it: at a Monitor's episode end.
        if locals_["done"] and (not locals_["is_monitor_wrapped"] or "episode" in info):
            bar.update(1)

    start = time.perf_counter()
    with progress(progress_bar, n_episodes, "evaluate", "episode") as bar:
        returns, lengths = evaluate_policy(
            model,
            venv,
            n_eval_episodes=n_episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
            callback=record,
            warn=False,
        )
    seconds = time.perf_counter() - start
    venv.close()
    return EvalResult(
        returns=np.asarray(returns, dtype=np.float64),
        lengths=np.asarray(lengths, dtype=np.int64),
        mean_attack_norm=float(np.mean(norms)) if norms else 0.0,
        max_attack_norm=float(np.max(norms)) if norms else 0.0,
        steps=len(norms),
        seconds=seconds,
    )
