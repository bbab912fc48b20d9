"""Task-defining wrappers on Gymnasium vector envs: proxy and learned rewards, cheap talk.

Named as in ``gymnasium.wrappers.vector``: each vector wrapper has its single-env twin's name
(:class:`advrl.envs.ProxyReward`, :class:`advrl.envs.LearnedReward`,
:class:`advrl.envs.AddCheapTalk`) and lives in this ``vector`` module. The engines are the
twins' own: :func:`~advrl.envs.proxy.transition_rewards`,
:func:`~advrl.envs.learned_reward.predict_rewards` (one forward pass for all envs) and the
cheap-talk ``_Channel`` (one source call for all envs).

Rewards follow the ground-truth contract (``reward_true``, ``reward_proxy``) as per-env info
arrays masked to the envs that took a real step, beside the returned rewards. The autoreset
step of ``AutoresetMode.NEXT_STEP`` (after an episode end, that env's action is ignored and
the next episode's first observation comes back with reward 0) is no transition: its reward
stays the vector env's 0 and its reward keys are masked out. Under ``SAME_STEP`` the ended
envs' transitions end in ``final_obs`` (not the returned reset observation) and their reward
keys also go to ``final_info``, as their single-env info of that step has them.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from advrl.envs.cheap_talk import MessageSource, _Channel
from advrl.envs.learned_reward import RewardModel, _check_model, predict_rewards
from advrl.envs.proxy import load_reward_fn, reward_fn_path, transition_rewards
from advrl.types import RewardFn
from advrl.vec_observation import obs_row
from advrl.vector_observation import (
    VectorTransformObservation,
    add_rows,
    autoreset_mode,
    check_vector_env,
    ended_rows,
    final_batch,
    info_row,
    put,
    take,
)


def _copy(batch: Any) -> Any:
    # Sync/AsyncVectorEnv(copy=False) reuse their observation buffer: keep a copy.
    if isinstance(batch, dict):
        return {k: np.array(v, copy=True) for k, v in batch.items()}
    return np.array(batch, copy=True)


def _inner_truth(
    env_rewards: np.ndarray, infos: dict[str, Any], final_info: dict[str, Any], ended: Any
) -> np.ndarray:
    """Per env, an inner wrapper's ``reward_true`` of this step (the ended envs' sits in
    ``final_info`` under ``SAME_STEP``), else the env's reward: the truth wins over the env."""
    truth = np.array(env_rewards, dtype=np.float64, copy=True)
    is_ended = np.zeros(len(truth), dtype=bool)
    is_ended[ended] = True
    for source, rows in ((infos, ~is_ended), (final_info, is_ended)):
        if "reward_true" in source:
            mask = source["_reward_true"] & rows
            truth[mask] = source["reward_true"][mask]
    return truth


class _TransitionReward(gym.vector.VectorWrapper):
    """Base of the vector reward wrappers: the transitions ``(obs, action, next_obs, info)``
    of the envs that really stepped, in the vector env's autoreset mode."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.autoreset_mode = autoreset_mode(env)
        self._last_obs: Any = None
        self._autoresetting = np.zeros(self.num_envs, dtype=bool)

    @abstractmethod
    def rewards(
        self,
        idx: np.ndarray,
        obs: Any,
        actions: Any,
        next_obs: Any,
        env_rewards: np.ndarray,
        truth: np.ndarray,
        step_info: Callable[[int], dict[str, Any]],
    ) -> dict[str, np.ndarray]:
        """Info values (``reward_proxy``, the returned reward, included), each ``(len(idx),)``,
        of the transitions of envs ``idx``. ``obs``, ``actions``, ``next_obs``,
        ``env_rewards`` and ``truth`` (an inner wrapper's ``reward_true``, else the env's
        reward) are full batches; ``step_info(i)`` is env ``i``'s single-env info."""

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        mask = None if options is None else options.get("reset_mask")  # popped by the env
        obs, infos = self.env.reset(seed=seed, options=options)
        if mask is None or self._last_obs is None:
            self._last_obs = _copy(obs)
            self._autoresetting[:] = False
        else:
            idx = np.flatnonzero(mask)
            self._last_obs = put(self._last_obs, idx, take(obs, idx))
            self._autoresetting[idx] = False
        return obs, infos

    def step(self, actions: Any):
        if self._last_obs is None:
            raise RuntimeError("call reset() before step()")
        obs, env_rewards, terminations, truncations, infos = self.env.step(actions)
        n = self.num_envs
        same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
        ended = ended_rows(infos) if same_step else np.zeros(0, dtype=int)
        next_obs = put(obs, ended, final_batch(infos, ended)) if ended.size else obs
        final_info = infos.setdefault("final_info", {}) if ended.size else {}
        ended_set = set(ended.tolist())

        def step_info(i: int) -> dict[str, Any]:
            return info_row(final_info if i in ended_set else infos, i)

        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            idx = np.flatnonzero(~self._autoresetting)
        else:
            idx = np.arange(n)
        rewards = np.array(env_rewards, copy=True)  # the vector env's dtype; 0 on autoresets
        if idx.size:
            truth = _inner_truth(env_rewards, infos, final_info, ended)
            values = self.rewards(
                idx, self._last_obs, actions, next_obs, env_rewards, truth, step_info
            )
            rewards[idx] = values["reward_proxy"]
            rows = None if idx.size == n else idx
            for key, v in values.items():
                add_rows(infos, key, rows, v, n)
                if ended.size:  # SAME_STEP: every env stepped, so rows of idx are env ids
                    add_rows(final_info, key, ended, np.asarray(v)[ended], n)
        self._last_obs = _copy(obs)
        self._autoresetting = np.logical_or(terminations, truncations)
        return obs, rewards, terminations, truncations, infos


class ProxyReward(_TransitionReward, gym.utils.RecordConstructorArgs):
    """The vector-env version of :class:`advrl.envs.ProxyReward`: return
    ``proxy(obs, action, next_obs, info)`` per env instead of the env's reward.

    ``true=`` computes the truth when the env's reward is itself the proxy; ``proxy=None``
    then returns the env's reward. Either may be a ``"module:function"`` path. An inner
    wrapper's ``reward_true`` wins. The functions get each env's own transition and info (the
    ended step's, under ``SAME_STEP``), so with one env the rewards equal the single-env
    wrapper's, across episode ends, in every autoreset mode (see :mod:`advrl.envs.vector`).

    Args:
        env: the vector env.
        proxy: ``fn(obs, action, next_obs, info) -> float`` returned as the reward, or None
            (the env's reward).
        true: the same for the true reward, or None (the env's reward is the truth).

    Example:
        >>> import gymnasium as gym, numpy as np
        >>> from advrl.envs.vector import ProxyReward
        >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
        >>> envs = ProxyReward(envs, lambda o, a, n, i: float(n[0] > 0))
        >>> _ = envs.reset(seed=0)
        >>> _, rewards, *_, info = envs.step(np.ones(2, dtype=int))
        >>> info["reward_true"], bool((info["reward_proxy"] == rewards).all())
        (array([1., 1.]), True)
    """

    def __init__(
        self, env: VectorEnv, proxy: RewardFn | str | None, true: RewardFn | str | None = None
    ) -> None:
        check_vector_env(env, "ProxyReward", "advrl.envs.VecProxyReward")
        gym.utils.RecordConstructorArgs.__init__(
            self, proxy=reward_fn_path(proxy), true=reward_fn_path(true)
        )
        proxy, true = load_reward_fn(proxy, "proxy"), load_reward_fn(true, "true")
        if proxy is None and true is None:
            raise ValueError("give a proxy reward function, a true one, or both")
        _TransitionReward.__init__(self, env)
        self.proxy, self.true = proxy, true

    def rewards(self, idx, obs, actions, next_obs, env_rewards, truth, step_info):
        actions = list(gym.vector.utils.iterate(self.action_space, actions))
        out = np.empty((2, len(idx)))
        for j, i in enumerate(idx.tolist()):
            args = (obs_row(obs, i), actions[i], obs_row(next_obs, i), step_info(i))
            out[:, j] = transition_rewards(self.proxy, self.true, env_rewards[i], args)
        return {"reward_true": out[1], "reward_proxy": out[0]}


class LearnedReward(_TransitionReward, gym.utils.RecordConstructorArgs):
    """The vector-env version of :class:`advrl.envs.LearnedReward`: a learned model's reward
    of ``(obs, action, next_obs)``, one batched forward pass for all envs per step.

    Info: ``reward_true`` (an inner wrapper's truth, else the env's reward), ``reward_proxy``
    (the model's, returned) and ``reward_std`` (the ensemble's spread), masked to the envs
    that stepped; the autoreset step of ``NEXT_STEP`` is left out of the batch (see
    :mod:`advrl.envs.vector`).

    Args:
        env: a vector env with Box observations.
        model: a :class:`~advrl.envs.learned_reward.RewardModel` (reward net or ensemble).

    Example:
        >>> import gymnasium as gym, numpy as np
        >>> from advrl.agents.reward_models import RewardNet
        >>> from advrl.envs.vector import LearnedReward
        >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 4)
        >>> net = RewardNet(envs.single_observation_space, envs.single_action_space, (8,))
        >>> envs = LearnedReward(envs, net)
        >>> _ = envs.reset(seed=0)
        >>> _, rewards, *_, info = envs.step(np.zeros(4, dtype=int))
        >>> rewards.shape, info["reward_true"], bool((info["reward_std"] == 0).all())
        ((4,), array([1., 1., 1., 1.]), True)
    """

    def __init__(self, env: VectorEnv, model: RewardModel) -> None:
        check_vector_env(env, "LearnedReward", "advrl.envs.VecLearnedReward")
        gym.utils.RecordConstructorArgs.__init__(self, model=model)
        _check_model(model)
        if not isinstance(env.single_observation_space, gym.spaces.Box):
            raise TypeError(
                f"LearnedReward needs Box observations, got {env.single_observation_space}"
            )
        _TransitionReward.__init__(self, env)
        self.model = model

    def rewards(self, idx, obs, actions, next_obs, env_rewards, truth, step_info):
        rows = None if idx.size == self.num_envs else idx  # no copies on the common step
        actions = np.asarray(actions)
        proxy, spread = predict_rewards(
            self.model, take(obs, rows), take(actions, rows), take(next_obs, rows)
        )
        return {"reward_true": truth[idx], "reward_proxy": proxy, "reward_std": spread}


class AddCheapTalk(VectorTransformObservation, gym.utils.RecordConstructorArgs):
    """The vector-env version of :class:`advrl.envs.AddCheapTalk`: append
    ``scale * tanh(source(obs))`` to every observation, one source call for all envs.

    Info: ``obs_clean`` (without the message) and ``message`` per returned observation;
    under ``SAME_STEP``, ``final_obs`` carries a message from that final observation,
    ``final_obs_clean`` holds it without, and ``final_info`` their ``obs_clean`` and
    ``message``. With one env and the same seed a random source gives the single-env
    wrapper's messages, across episode ends, in every autoreset mode.

    Args:
        env: the victim's vector env (1-D Box or Dict observations).
        source: a :class:`~advrl.envs.cheap_talk.MessageSource`, or ``"random"`` / ``"zero"``.
        dims: message size (> 0); must match ``source.dims``.
        scale: message bound (> 0).
        key: Dict key for the message.

    Example:
        >>> import gymnasium as gym
        >>> from advrl.envs.vector import AddCheapTalk
        >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 3)
        >>> envs = AddCheapTalk(envs, "random")
        >>> obs, info = envs.reset(seed=0)
        >>> obs.shape, info["message"].shape, envs.single_observation_space.shape
        ((3, 6), (3, 2), (6,))
    """

    def __init__(
        self,
        env: VectorEnv,
        source: MessageSource | str,
        dims: int = 2,
        scale: float = 2 * math.pi,
        key: str = "message",
    ) -> None:
        check_vector_env(env, "AddCheapTalk", "advrl.envs.VecAddCheapTalk")
        gym.utils.RecordConstructorArgs.__init__(
            self, source=source, dims=dims, scale=scale, key=key
        )
        self.channel = _Channel(env.single_observation_space, source, dims, scale, key)
        VectorTransformObservation.__init__(self, env, self.channel.space)
        self.source = self.channel.source

    def reseed(self, seed: int) -> None:
        self.channel.reseed(seed)

    def transform(self, obs: Any, n: int) -> tuple[Any, dict[str, np.ndarray]]:
        return self.channel.transform(obs, n)
