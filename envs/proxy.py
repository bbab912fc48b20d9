"""Proxy rewards: replace a task's reward by a proxy while keeping the true reward in info.

The ground-truth contract (DESIGN.md section 3): ``info["reward_true"]`` always holds the
true reward and ``info["reward_proxy"]`` the reward the wrapper returns. A reward function
is ``fn(obs, action, next_obs, info) -> float`` (:class:`advrl.types.RewardFn`), or the
``"module:function"`` path of one. A wrapper records an importable function by its path, so
``env.spec.to_json()`` works and ``gym.make(env.spec)`` rebuilds the wrapper.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from scipy import stats
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from advrl.types import RewardFn
from advrl.vec_observation import check_sb3_venv


def checked_reward(value: Any, fn: RewardFn) -> float:
    """``float(value)`` if the reward function returned one finite real number (a Python or
    numpy int or float, or a 0-d array of one), else a ``ValueError`` naming the function and
    what it returned (a complex number, a list, NaN, ...)."""
    if type(value) is float and math.isfinite(value):  # the common case, kept cheap
        return value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged sequences
        array = np.asarray(None)
    real = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if array.ndim == 0 and real and math.isfinite(reward := float(array)):
        return reward
    raise ValueError(
        f"reward function {getattr(fn, '__name__', fn)!r} must return a finite scalar "
        f"(a real float), got {value!r} ({type(value).__name__})"
    )


def reward_fn_path(fn: RewardFn | str | None) -> RewardFn | str | None:
    """``"module:qualname"`` of an importable function (what a spec records: JSON-able and
    rebuilt by :func:`load_reward_fn`); anything else (a lambda, a callable object) as is."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if isinstance(fn, str) or not (isinstance(module, str) and isinstance(name, str)):
        return fn
    try:
        importable = load_reward_fn(f"{module}:{name}", "fn") is fn
    except (ImportError, AttributeError, ValueError):
        importable = False
    return f"{module}:{name}" if importable else fn


def load_reward_fn(fn: RewardFn | str | None, name: str) -> RewardFn | None:
    """The reward function ``fn`` names (``"module:function"``), or ``fn`` itself."""
    if not isinstance(fn, str):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable (obs, action, next_obs, info), got {fn!r}")
        return fn
    module, _, path = fn.partition(":")
    if not module or not path:
        raise ValueError(f"{name} as a string must be a 'module:function' path, got {fn!r}")
    obj: Any = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return load_reward_fn(obj, name)


def transition_rewards(
    proxy: RewardFn | None, true: RewardFn | None, reward: Any, args: tuple[Any, Any, Any, dict]
) -> tuple[float, Any]:
    """``(proxy, true)`` rewards of one transition ``args = (obs, action, next_obs, info)``:
    the engine of every proxy-reward wrapper (one env, SB3 VecEnv, Gymnasium vector env).
    A missing function stands for the env's own ``reward``; an inner wrapper's truth
    (``info["reward_true"]``) wins over ``true``."""
    p = float(reward) if proxy is None else checked_reward(proxy(*args), proxy)
    t = float(reward) if true is None else checked_reward(true(*args), true)
    return p, args[3].get("reward_true", t)


class ProxyReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Return ``proxy(obs, action, next_obs, info)`` instead of the env's reward.

    By default the env's own reward is the truth. Pass ``true=`` (same signature) when the
    env's reward is itself the proxy and the truth must be computed; ``proxy=None`` then
    returns the env's reward. Either may be given as a ``"module:function"`` path.

    Example:
        >>> import gymnasium as gym
        >>> env = ProxyReward(gym.make("CartPole-v1"), lambda o, a, n, i: float(n[0] > 0))
        >>> _ = env.reset(seed=0)
        >>> _, r, *_, info = env.step(1)
        >>> info["reward_true"], info["reward_proxy"] == r
        (1.0, True)
    """

    def __init__(
        self, env: gym.Env, proxy: RewardFn | str | None, true: RewardFn | str | None = None
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, proxy=reward_fn_path(proxy), true=reward_fn_path(true)
        )
        gym.Wrapper.__init__(self, env)
        proxy, true = load_reward_fn(proxy, "proxy"), load_reward_fn(true, "true")
        if proxy is None and true is None:
            raise ValueError("give a proxy reward function, a true one, or both")
        self.proxy, self.true = proxy, true
        self._last_obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        args = (self._last_obs, action, obs, info)
        proxy, info["reward_true"] = transition_rewards(self.proxy, self.true, reward, args)
        info["reward_proxy"] = proxy
        self._last_obs = obs
        return obs, proxy, terminated, truncated, info


class UseTrueReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Return ``info["reward_true"]`` as the reward (info untouched): train on the truth.

    The reference ("safe") policies of the hacking testbeds are trained this way, and both
    returns stay in info so the same callbacks log them.

    Example:
        >>> import gymnasium as gym
        >>> env = ProxyReward(gym.make("CartPole-v1"), lambda o, a, n, i: 5.0)
        >>> _ = UseTrueReward(env).reset(seed=0)
        >>> UseTrueReward(env).step(0)[1]
        1.0
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        if "reward_true" not in info:
            raise KeyError(
                "UseTrueReward needs info['reward_true'] from an inner wrapper (e.g. ProxyReward)"
            )
        return obs, float(info["reward_true"]), terminated, truncated, info


class VecProxyReward(VecEnvWrapper):
    """VecEnv version of :class:`ProxyReward` (the final observation of an ended episode is
    read from ``info["terminal_observation"]``, not the auto-reset one)."""

    def __init__(self, venv: VecEnv, proxy: RewardFn) -> None:
        check_sb3_venv(venv, "VecProxyReward", "advrl.envs.vector.ProxyReward")
        super().__init__(venv)
        if not callable(proxy):
            raise TypeError(f"proxy must be callable (obs, action, next_obs, info), got {proxy!r}")
        self.proxy = proxy
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self._last_obs = self.venv.reset()
        return self._last_obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions
        self.venv.step_async(actions)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        proxies = np.empty(len(infos), dtype=np.float32)
        for i, info in enumerate(infos):
            next_obs = (
                info["terminal_observation"]
                if dones[i] and "terminal_observation" in info
                else obs[i]
            )
            args = (self._last_obs[i], self._actions[i], next_obs, info)
            proxies[i], info["reward_true"] = transition_rewards(self.proxy, None, rewards[i], args)
            info["reward_proxy"] = float(proxies[i])
        self._last_obs = obs
        return obs, proxies, dones, infos


def reward_correlation(true: np.ndarray, proxy: np.ndarray) -> float:
    """Pearson correlation of proxy and true rewards over visited (state, action) pairs:
    the paper's measure of how well a proxy tracks the truth under a policy's occupancy
    measure (Laidlaw et al. 2024, Sec. 3). NaN when either reward is constant."""
    true, proxy = np.asarray(true, float), np.asarray(proxy, float)
    if true.shape != proxy.shape or true.ndim != 1:
        raise ValueError(
            f"true and proxy must be 1-D and the same shape, got {true.shape}, {proxy.shape}"
        )
    if true.size < 2 or np.ptp(true) == 0 or np.ptp(proxy) == 0:
        return float("nan")
    return float(stats.pearsonr(true, proxy).statistic)


class LogTrueAndProxyReturns(BaseCallback):
    """Log true and proxy episode returns side by side (``rollout/ep_true_return``,
    ``rollout/ep_proxy_return``), and their per-step correlation over each rollout
    (``rollout/reward_correlation``), to TensorBoard and the console logger."""

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self._true_sum: np.ndarray | None = None
        self._proxy_sum: np.ndarray | None = None
        self._steps_true: list[float] = []
        self._steps_proxy: list[float] = []
        self.episodes: list[tuple[float, float]] = []
        self.last_correlation = float("nan")

    def _on_training_start(self) -> None:
        n = self.training_env.num_envs
        self._true_sum, self._proxy_sum = np.zeros(n), np.zeros(n)

    def _on_step(self) -> bool:
        for i, (done, info) in enumerate(
            zip(self.locals["dones"], self.locals["infos"], strict=True)
        ):
            if "reward_true" not in info:
                continue
            self._true_sum[i] += info["reward_true"]
            self._proxy_sum[i] += info.get("reward_proxy", info["reward_true"])
            self._steps_true.append(info["reward_true"])
            self._steps_proxy.append(info.get("reward_proxy", info["reward_true"]))
            if done:
                self.episodes.append((self._true_sum[i], self._proxy_sum[i]))
                self.logger.record_mean("rollout/ep_true_return", self._true_sum[i])
                self.logger.record_mean("rollout/ep_proxy_return", self._proxy_sum[i])
                self._true_sum[i] = self._proxy_sum[i] = 0.0
        return True

    def _on_rollout_end(self) -> None:
        if self._steps_true:
            corr = reward_correlation(np.array(self._steps_true), np.array(self._steps_proxy))
            self.last_correlation = corr
            if math.isfinite(corr):
                self.logger.record("rollout/reward_correlation", corr)
        self._steps_true, self._steps_proxy = [], []
