"""Small pre-trained policies shipped with advrl, and their loader.

Every entry is a weights-only safetensors checkpoint (policy + observation-normaliser
statistics) with a JSON card beside it recording the exact command, seed and the clean
return over 50 deterministic episodes. See ``advrl/zoo/README.md``.

Example:
    >>> import advrl.zoo
    >>> "ppo-cartpole" in advrl.zoo.names()
    True
    >>> victim = advrl.zoo.load("ppo-cartpole")
    >>> victim.env_id
    'CartPole-v1'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from advrl.zoo.checkpoint import Checkpoint, CheckpointError, ObsStats, load_checkpoint

__all__ = [
    "CheckpointError",
    "ObsStats",
    "ZooPolicy",
    "build_model",
    "frozen_vec_normalize",
    "load",
    "load_file",
    "names",
]

ZOO_DIR = Path(__file__).parent
ALGOS: dict[str, type[BaseAlgorithm]] = {"PPO": PPO, "A2C": A2C, "SAC": SAC, "TD3": TD3, "DQN": DQN}


def names() -> list[str]:
    """Names of the shipped policies, e.g. ``["ppo-ant", "ppo-cartpole", ...]``."""
    return sorted(p.stem for p in ZOO_DIR.glob("*.safetensors"))


def frozen_vec_normalize(venv: VecEnv, stats: ObsStats | None) -> VecEnv:
    """Wrap ``venv`` in a ``VecNormalize`` that applies ``stats`` and never updates them.

    Returns ``venv`` unchanged when ``stats`` is None (the policy saw raw observations).
    """
    if stats is None:
        return venv
    wrapped = VecNormalize(
        venv,
        training=False,
        norm_obs=True,
        norm_reward=False,
        clip_obs=stats.clip_obs,
        epsilon=stats.epsilon,
    )
    rms = RunningMeanStd(shape=stats.mean.shape)
    rms.mean = np.asarray(stats.mean, dtype=np.float64).copy()
    rms.var = np.asarray(stats.var, dtype=np.float64).copy()
    wrapped.obs_rms = rms
    return wrapped


def build_model(ckpt: Checkpoint, device: str = "cpu") -> BaseAlgorithm:
    """Rebuild the SB3 model a checkpoint describes and load its weights."""
    if ckpt.algo not in ALGOS:
        raise CheckpointError(f"unknown algorithm {ckpt.algo!r}; allowed: {sorted(ALGOS)}")
    env = DummyVecEnv([lambda: gym.make(ckpt.env_id, **ckpt.env_kwargs)])
    model = ALGOS[ckpt.algo]("MlpPolicy", env, policy_kwargs=ckpt.policy_kwargs, device=device)
    try:
        model.policy.load_state_dict(ckpt.state_dict, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint weights do not fit a {ckpt.algo} policy: {err}") from err
    model.policy.set_training_mode(False)
    return model


@dataclass
class ZooPolicy:
    """A loaded zoo policy: the SB3 model, its normaliser and how to build its env.

    Attributes:
        name: zoo name (``"ppo-hopper"``).
        model: the SB3 model; ``model.predict`` expects *normalised* observations.
        obs_stats: frozen normaliser statistics, or None if the policy sees raw observations.
        env_id: Gymnasium id of the task it was trained on.
        card: the training record (command, seed, clean return).
    """

    name: str
    model: BaseAlgorithm
    obs_stats: ObsStats | None
    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)

    def env_fns(self, n_envs: int = 1) -> list[Callable[[], gym.Env]]:
        """Factories of monitored raw environments, one per vectorised slot."""
        return [lambda: Monitor(gym.make(self.env_id, **self.env_kwargs)) for _ in range(n_envs)]

    def make_vec_env(self, n_envs: int = 1, seed: int | None = None) -> VecEnv:
        """A ``VecNormalize``-d vector env (frozen stats) whose observations ``model`` accepts."""
        venv = DummyVecEnv(self.env_fns(n_envs))
        if seed is not None:
            venv.seed(seed)
        return frozen_vec_normalize(venv, self.obs_stats)

    def torch_policy(self):
        """The :class:`~advrl.types.TorchPolicy` view of this model (normaliser included)."""
        from advrl.policies import from_sb3

        return from_sb3(self.model, obs_stats=self.obs_stats)


def load_file(path: str | Path, name: str | None = None, device: str = "cpu") -> ZooPolicy:
    """Load a zoo-format checkpoint from any path (weights only: safe for untrusted files)."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return ZooPolicy(
        name=name or path.stem,
        model=build_model(ckpt, device=device),
        obs_stats=ckpt.obs_stats,
        env_id=ckpt.env_id,
        env_kwargs=ckpt.env_kwargs,
        card=card,
    )


def load(name: str, device: str = "cpu") -> ZooPolicy:
    """Load a shipped policy by name.

    Raises:
        KeyError: ``name`` is not in the zoo (the message lists what is).
    """
    available = names()
    if name not in available:
        raise KeyError(f"unknown zoo policy {name!r}; available: {available}")
    return load_file(ZOO_DIR / f"{name}.safetensors", name=name, device=device)
