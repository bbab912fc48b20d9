"""BARFI tasks: a primary reward plus an auxiliary one, both kept in ``info``.

``info["reward_true"]`` is the primary reward ``r_p`` and ``info["reward_aux"]`` the
auxiliary ``r_aux``; the wrappers return the naive sum ``r_p + r_aux`` (also in
``info["reward_proxy"]``), so any SB3 learner trained on them is the naive baseline.

- CartPole (Gupta et al. 2023, Sec. 5): ``r_aux = scale`` (default 1) when the action matches a PD
  controller's (``"good"``) or when it is the opposite (``"bad"``, misleading).
- HalfCheetah: primary = run (forward) reward, aux = control cost (``SplitReward``).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

PD_GAINS = np.array([0.1, 0.5, 10.0, 1.0])
"""CartPole PD controller: push right iff ``PD_GAINS . (x, x_dot, theta, theta_dot) > 0``
(P = 10 and D = 1 on the pole angle, small terms on the cart; balances all 500 steps)."""

AUX_MODES = ("good", "bad", "bad_penalty")


def pd_action(obs: np.ndarray) -> np.ndarray:
    """The PD controller's CartPole action; obs: shape ``(..., 4)`` -> int shape ``(...)``."""
    return (np.asarray(obs, dtype=np.float64) @ PD_GAINS > 0).astype(np.int64)


def _check_mode(mode: str) -> str:
    if mode not in AUX_MODES:
        raise ValueError(f"mode must be one of {AUX_MODES}, got {mode!r}")
    return mode


def _check_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale < np.inf:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    return float(scale)


def controller_aux(
    obs: np.ndarray, action: np.ndarray, mode: str, scale: float = 1.0
) -> np.ndarray:
    """``scale`` where the action agrees (``good``) / disagrees (``bad``) with the PD
    controller, else 0; obs: shape ``(..., 4)``; action: shape ``(...)``."""
    agree = pd_action(obs) == np.asarray(action)
    if _check_mode(mode) == "bad_penalty":
        return -scale * agree.astype(np.float64)
    return scale * (agree if mode == "good" else ~agree).astype(np.float64)


class AddControllerAux(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """CartPole with the PD-controller auxiliary reward; returns ``r_p + r_aux``.

    Example:
        >>> env = AddControllerAux(gym.make("CartPole-v1"), mode="bad")
        >>> obs, _ = env.reset(seed=0)
        >>> _, r, *_, info = env.step(int(1 - pd_action(obs)))  # against the controller
        >>> info["reward_true"], info["reward_aux"], r
        (1.0, 1.0, 2.0)
    """

    def __init__(self, env: gym.Env, mode: str = "bad", scale: float = 1.0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, mode=mode, scale=scale)
        gym.Wrapper.__init__(self, env)
        self.mode, self.scale = _check_mode(mode), _check_scale(scale)
        if env.observation_space.shape != (4,) or not isinstance(
            env.action_space, gym.spaces.Discrete
        ):
            raise ValueError(
                "AddControllerAux needs a CartPole-like env (4-dim observation, 2 actions), "
                f"got {env.observation_space} / {env.action_space}"
            )
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        aux = float(controller_aux(self._obs, action, self.mode, self.scale))
        obs, reward, terminated, truncated, info = self.env.step(action)
        info.setdefault("reward_true", float(reward))
        info["reward_aux"] = aux
        info["reward_proxy"] = float(reward) + aux
        self._obs = obs
        return obs, float(reward) + aux, terminated, truncated, info


class SplitReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Name two of an env's reward parts the primary and the auxiliary reward.

    Defaults fit MuJoCo v5 HalfCheetah: primary = ``info["reward_forward"]`` (run reward),
    aux = ``info["reward_ctrl"]`` (minus the control cost). Returns ``r_p + r_aux``.

    Example:
        >>> env = SplitReward(gym.make("HalfCheetah-v5"))
        >>> _ = env.reset(seed=0)
        >>> _, r, *_, info = env.step(env.action_space.sample())
        >>> abs(r - (info["reward_true"] + info["reward_aux"])) < 1e-9
        True
    """

    def __init__(
        self, env: gym.Env, primary: str = "reward_forward", aux: str = "reward_ctrl"
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, primary=primary, aux=aux)
        gym.Wrapper.__init__(self, env)
        self.primary, self.aux = primary, aux

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        for key in (self.primary, self.aux):
            if key not in info:
                raise KeyError(
                    f"the env's info has no {key!r}; reward parts there: "
                    f"{sorted(k for k in info if k.startswith('reward'))}"
                )
        r_p, r_aux = float(info[self.primary]), float(info[self.aux])
        info["reward_true"], info["reward_aux"] = r_p, r_aux
        info["reward_proxy"] = r_p + r_aux
        return obs, r_p + r_aux, terminated, truncated, info


def cartpole_aux(mode: str = "bad", scale: float = 1.0, max_episode_steps: int = 500) -> gym.Env:
    """``CartPole-v1`` under :class:`AddControllerAux` (registered as advrl/CartPole*Aux-v0)."""
    env = gym.make("CartPole-v1", max_episode_steps=max_episode_steps)
    return AddControllerAux(env, mode, scale)


def halfcheetah_split(**kwargs: Any) -> gym.Env:
    """``HalfCheetah-v5`` with primary = run reward and aux = control cost."""
    return SplitReward(gym.make("HalfCheetah-v5", **kwargs))
