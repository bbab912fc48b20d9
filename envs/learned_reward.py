"""Serve a learned reward model (or an ensemble of them) as an environment's reward.

The ground-truth contract of :mod:`advrl.envs.proxy` holds: ``info["reward_true"]`` keeps the
true reward (an inner wrapper's truth wins, else the env's own reward), ``info["reward_proxy"]``
is the learned reward the wrapper returns, and ``info["reward_std"]`` is the ensemble's
member spread (0 for a single net). The model is anything with the :class:`RewardModel`
interface, e.g. :class:`advrl.agents.reward_models.RewardNet` or ``RewardEnsemble``
(duck-typed here: ``envs`` does not import ``agents``).
"""

from __future__ import annotations

from typing import Any, Protocol, SupportsFloat, runtime_checkable

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from advrl.vec_observation import check_sb3_venv


@runtime_checkable
class RewardModel(Protocol):
    """A batched reward model on transitions."""

    def predict(
        self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``obs``, ``next_obs``: ``(batch, *obs_shape)``; ``actions``: ``(batch, *act_shape)``
        (``(batch,)`` for discrete). Returns reward and spread, each ``(batch,)``; the model
        moves the inputs to its own device."""
        ...


def _check_model(model: Any) -> None:
    if not isinstance(model, RewardModel):
        raise TypeError(
            "model must have predict(obs, actions, next_obs) -> (reward, spread), e.g. a "
            f"RewardNet or RewardEnsemble; got {type(model).__name__}"
        )


def _checked(rewards: Any, spread: Any, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's ``(reward, spread)`` as arrays, or a ``ValueError`` saying what is wrong:
    both must be real numbers of shape ``(batch,)``, the rewards finite."""
    rewards, spread = np.asarray(rewards), np.asarray(spread)
    for name, array in (("reward", rewards), ("spread", spread)):
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(
                f"reward model returned a {name} of dtype {array.dtype} ({array!r}); "
                f"allowed: real floats of shape ({batch},)"
            )
    if rewards.shape != (batch,) or spread.shape != (batch,):
        raise ValueError(
            f"reward model returned shapes {rewards.shape}, {spread.shape}; expected ({batch},)"
        )
    if not np.all(np.isfinite(rewards)):
        raise ValueError(f"reward model returned non-finite rewards {rewards}")
    return rewards, spread


def predict_rewards(
    model: RewardModel, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The model's checked ``(reward, spread)``, each ``(batch,)``, for a batch of transitions
    (``obs``, ``next_obs``: ``(batch, *obs_shape)``): the engine of every learned-reward
    wrapper (one env, SB3 VecEnv, Gymnasium vector env), one forward pass per call."""
    rewards, spread = model.predict(obs, actions, next_obs)
    return _checked(rewards, spread, len(obs))


class LearnedReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Return a learned model's reward of ``(obs, action, next_obs)``.

    Args:
        env: the environment (Box observations).
        model: a :class:`RewardModel` (reward net or ensemble), on any device.

    Example:
        >>> import gymnasium as gym
        >>> from advrl.agents.reward_models import RewardNet
        >>> env = gym.make("CartPole-v1")
        >>> env = LearnedReward(env, RewardNet(env.observation_space, env.action_space, (8,)))
        >>> _ = env.reset(seed=0)
        >>> _, r, *_, info = env.step(1)
        >>> info["reward_true"], info["reward_proxy"] == r, info["reward_std"]
        (1.0, True, 0.0)
    """

    def __init__(self, env: gym.Env, model: RewardModel) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, model=model)
        gym.Wrapper.__init__(self, env)
        _check_model(model)
        if not isinstance(env.observation_space, gym.spaces.Box):
            raise TypeError(f"LearnedReward needs Box observations, got {env.observation_space}")
        self.model = model
        self._last_obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        rewards, spread = predict_rewards(
            self.model,
            np.asarray(self._last_obs)[None],
            np.asarray(action)[None],
            np.asarray(obs)[None],
        )
        proxy = float(rewards[0])
        info.setdefault("reward_true", float(reward))
        info["reward_proxy"], info["reward_std"] = proxy, float(spread[0])
        self._last_obs = obs
        return obs, proxy, terminated, truncated, info


class VecTransitionWrapper(VecEnvWrapper):
    """An SB3 VecEnv wrapper that sees each step as transitions ``(obs, action, next_obs)``
    of all envs at once; subclasses define :meth:`transition_step`.

    Where an episode ended, ``next_obs`` is ``info["terminal_observation"]`` (SB3
    auto-resets, so the returned observation already belongs to the next episode).
    """

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self._last_obs = self.venv.reset()
        return self._last_obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        if self._last_obs is None:
            raise RuntimeError("call reset() before step()")
        next_obs = obs
        ended = [i for i, d in enumerate(dones) if d and "terminal_observation" in infos[i]]
        if ended:  # copy only when needed: the common step has no episode end
            next_obs = obs.copy()
            for i in ended:
                next_obs[i] = infos[i]["terminal_observation"]
        rewards = self.transition_step(self._last_obs, self._actions, next_obs, rewards, infos)
        self._last_obs = obs
        return obs, rewards, dones, infos

    def transition_step(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray,
                        rewards: np.ndarray, infos: list[dict]) -> np.ndarray:  # fmt: skip
        """The rewards to return for this step's transitions (may write into ``infos``)."""
        return rewards


class VecLearnedReward(VecTransitionWrapper):
    """SB3 VecEnv version of :class:`LearnedReward`: one batched forward pass per step over
    all envs. Where an episode ended, ``next_obs`` is ``info["terminal_observation"]`` (SB3
    auto-resets, so the returned observation already belongs to the next episode).

    Example:
        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> from advrl.agents.reward_models import RewardNet
        >>> venv = make_vec_env("CartPole-v1", 4, seed=0)
        >>> net = RewardNet(venv.observation_space, venv.action_space, (8,))
        >>> venv = VecLearnedReward(venv, net)
        >>> _ = venv.reset()
        >>> _, rewards, _, infos = venv.step(np.zeros(4, dtype=int))
        >>> rewards.shape, infos[0]["reward_true"]
        ((4,), 1.0)
    """

    def __init__(self, venv: VecEnv, model: RewardModel) -> None:
        check_sb3_venv(venv, "VecLearnedReward", "advrl.envs.vector.LearnedReward")
        super().__init__(venv)
        _check_model(model)
        if not isinstance(venv.observation_space, gym.spaces.Box):
            raise TypeError(
                f"VecLearnedReward needs Box observations, got {venv.observation_space}"
            )
        self.model = model

    def transition_step(self, obs, actions, next_obs, rewards, infos) -> np.ndarray:
        proxies, spread = predict_rewards(self.model, obs, actions, next_obs)
        for info, true, proxy, std in zip(infos, rewards.tolist(), proxies.tolist(),
                                          spread.tolist(), strict=True):  # fmt: skip
            info.setdefault("reward_true", true)
            info["reward_proxy"], info["reward_std"] = proxy, std
        return proxies.astype(np.float32)
