"""Robustness evaluation of a protagonist: no adversary, a fresh worst-case adversary, and
perturbed dynamics (the RARL/QARL evaluation protocol, PAPERS.md)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from advrl.agents.rarl import make_learner
from advrl.envs.agent_view import Opponent, VecAgentView
from advrl.envs.dynamics import PerturbDynamics
from advrl.envs.forces import ADVERSARY, PROTAGONIST, ForceAdversaryEnv, protagonist_view


def evaluate_protagonist(
    model: BaseAlgorithm,
    env_id: str,
    *,
    adversary: Any = "none",
    mass_scale: float = 1.0,
    friction_scale: float = 1.0,
    bodies: list[str] | None = None,
    n_episodes: int = 10,
    seed: int = 0,
    force_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """Deterministic episode returns of ``model`` on ``env_id`` with scaled dynamics and an
    adversary (``"none"``, ``"random"`` or a policy); shape (n_episodes,).

    ``bodies`` chooses whose mass and friction are scaled (None: all, as in the paper grids).
    """

    def make() -> gym.Env:
        if adversary == "none":
            env = gym.make(env_id)
        else:
            env = protagonist_view(env_id, adversary, **(force_kwargs or {}))
        if (mass_scale, friction_scale) != (1.0, 1.0):
            env = PerturbDynamics(env, mass_scale, friction_scale, bodies)
        return Monitor(env)

    n_envs = min(n_episodes, 5)
    venv = DummyVecEnv([make] * n_envs)
    venv.seed(seed)
    returns, _ = evaluate_policy(
        model, venv, n_eval_episodes=n_episodes, deterministic=True, return_episode_rewards=True
    )
    venv.close()
    return np.asarray(returns, dtype=np.float64)


def train_worst_case_adversary(
    protagonist: BaseAlgorithm,
    env_id: str,
    steps: int,
    *,
    algo: str = "PPO",
    n_envs: int = 8,
    seed: int = 0,
    device: str = "auto",
    algo_kwargs: dict[str, Any] | None = None,
    force_kwargs: dict[str, Any] | None = None,
) -> BaseAlgorithm:
    """Train a fresh adversary for ``steps`` against the frozen (deterministic) protagonist."""
    frozen = Opponent(protagonist, deterministic=True)

    def game() -> ForceAdversaryEnv:
        return ForceAdversaryEnv(env_id, **(force_kwargs or {}))

    venv = VecAgentView([game] * n_envs, ADVERSARY, {PROTAGONIST: frozen})
    venv.seed(seed)
    adversary = make_learner(
        algo, VecMonitor(venv), seed=seed, device=device, tensorboard_log=None, kwargs=algo_kwargs
    )
    return adversary.learn(steps)
