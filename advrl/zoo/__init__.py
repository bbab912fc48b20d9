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

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize
from torch.overrides import TorchFunctionMode

from advrl.zoo.checkpoint import (
    ALGORITHMS,
    Checkpoint,
    CheckpointError,
    ObsStats,
    load_checkpoint,
    read_card,
)

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
assert set(ALGOS) == set(ALGORITHMS)  # the loader's allow-list and the builders agree


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
    """Rebuild the SB3 model a checkpoint describes and load its weights.

    The env is made and every tensor shape checked against the declared architecture (on
    PyTorch's meta device: no memory, no initialisation) before the model is allocated.

    Raises:
        CheckpointError: the env cannot be made with ``env_kwargs``, or the weights or
            normaliser statistics do not fit it.
    """
    if ckpt.algo not in ALGOS:
        raise CheckpointError(f"unknown algorithm {ckpt.algo!r}; allowed: {sorted(ALGOS)}")
    algo = ALGOS[ckpt.algo]
    try:
        env = gym.make(ckpt.env_id, **ckpt.env_kwargs)
    except (TypeError, ValueError, AssertionError, gym.error.Error) as err:
        raise CheckpointError(
            f"cannot make {ckpt.env_id!r} with env_kwargs {ckpt.env_kwargs}: {err}"
        ) from err
    obs_shape = env.observation_space.shape
    if ckpt.obs_stats is not None and ckpt.obs_stats.mean.shape != obs_shape:
        raise CheckpointError(
            f"obs_rms statistics have shape {ckpt.obs_stats.mean.shape}, but {ckpt.env_id!r} "
            f"observations have shape {obs_shape}"
        )
    _check_weights_fit(algo, env, ckpt)
    model = algo("MlpPolicy", DummyVecEnv([lambda: env]), policy_kwargs=ckpt.policy_kwargs,
                 device=device)  # fmt: skip
    try:
        model.policy.load_state_dict(ckpt.state_dict, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint weights do not fit a {ckpt.algo} policy: {err}") from err
    model.policy.set_training_mode(False)
    return model


class _KeepOnMeta(TorchFunctionMode):
    """Make ``tensor.to(device)`` a no-op on meta tensors.

    SB3 moves sub-networks with ``.to(self.device)`` while building a policy; a policy
    built under ``th.device("meta")`` then stays shape-only instead of failing to copy.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is th.Tensor.to and args and isinstance(args[0], th.Tensor) and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


def _check_weights_fit(algo: type[BaseAlgorithm], env: gym.Env, ckpt: Checkpoint) -> None:
    """Compare the file's tensor shapes with those the declared architecture needs."""
    policy_class = algo.policy_aliases["MlpPolicy"]
    try:
        with th.device("meta"), _KeepOnMeta():
            policy = policy_class(
                env.observation_space, env.action_space, lambda _: 0.0, **ckpt.policy_kwargs
            )
    except (TypeError, ValueError, AssertionError, KeyError) as err:
        raise CheckpointError(
            f"policy_kwargs do not describe a {ckpt.algo} MlpPolicy for {ckpt.env_id!r}: {err}"
        ) from err
    needed = {k: tuple(v.shape) for k, v in policy.state_dict().items()}
    held = {k: tuple(v.shape) for k, v in ckpt.state_dict.items()}
    problems = []
    for k, shape in needed.items():
        if k not in held:
            problems.append(f"tensor 'policy.{k}' is missing")
        elif held[k] != shape:
            problems.append(f"tensor 'policy.{k}' has shape {held[k]}; the policy needs {shape}")
    problems += [f"tensor 'policy.{k}' is not part of the policy" for k in held if k not in needed]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(
            f"checkpoint weights do not fit a {ckpt.algo} MlpPolicy with these policy_kwargs "
            f"on {ckpt.env_id!r}: " + "; ".join(problems[:3]) + more
        )


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


def load_file(
    path: str | Path,
    name: str | None = None,
    device: str = "cpu",
    allowed_env_ids: Collection[str] | None = None,
) -> ZooPolicy:
    """Load a zoo-format checkpoint from any path; safe for files of unknown origin.

    Nothing is unpickled, every header field is validated and bounded, the env id must be
    registered (or in ``allowed_env_ids``) and the tensors must fit the declared
    architecture before a model is built (see :mod:`advrl.zoo.checkpoint`).

    Args:
        path: the ``.safetensors`` file; a ``.json`` card beside it is read if present.
        name: the zoo name to report (default: the file's stem).
        device: torch device for the model.
        allowed_env_ids: accept exactly these env ids instead of every registered one.

    Raises:
        CheckpointError: the file or its card is missing, corrupt, too large or not allowed.
    """
    path = Path(path)
    ckpt = load_checkpoint(path, allowed_env_ids=allowed_env_ids)
    card = read_card(path.with_suffix(".json"))
    try:
        model = build_model(ckpt, device=device)
    except CheckpointError as err:
        raise CheckpointError(f"checkpoint {str(path)!r}: {err}") from err
    return ZooPolicy(
        name=name or path.stem,
        model=model,
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
