"""CartPole with the PD-controller auxiliary reward, batched in numpy.

The same physics as Gymnasium's ``CartPole-v1`` (Euler, float64 state, float32 observations,
12 degree / 2.4 m limits, reward 1 on every step) stepped for all envs at once, so BARFI's
many short REINFORCE updates run on a CPU in minutes. A tested equivalent of
``gym.vector.SyncVectorEnv([AddControllerAux(CartPole-v1)] * n)``, much faster.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from advrl.agents.barfi.tasks import _check_mode, _check_scale, controller_aux
from advrl.envs.cartpole_physics import (
    THETA_LIMIT,
    X_LIMIT,
    cartpole_step,
    cartpole_terminated,
)


class CartPoleAuxBatch(gym.vector.VectorEnv):
    """``num_envs`` CartPoles with ``info["reward_true"]`` / ``info["reward_aux"]`` arrays.

    Gymnasium's vector API with next-step autoreset (the step after an episode ends resets
    that env and returns zero rewards), like ``SyncVectorEnv``'s default.

    Args:
        num_envs: number of CartPoles.
        mode: ``"good"`` or ``"bad"`` PD-controller auxiliary reward.
        scale: size of the auxiliary reward (the paper's is 1).
        max_episode_steps: truncation horizon (500 as in CartPole-v1).

    Example:
        >>> env = CartPoleAuxBatch(3, mode="bad")
        >>> obs, _ = env.reset(seed=0)
        >>> obs.shape
        (3, 4)
        >>> _, r, term, trunc, info = env.step(np.ones(3, dtype=np.int64))
        >>> r.tolist() == (info["reward_true"] + info["reward_aux"]).tolist()
        True
    """

    metadata: dict[str, Any] = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(
        self, num_envs: int, mode: str = "bad", scale: float = 1.0, max_episode_steps: int = 500
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        if not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be an int >= 1, got {max_episode_steps!r}")
        self.num_envs, self.mode, self.scale = num_envs, _check_mode(mode), _check_scale(scale)
        self.max_episode_steps = max_episode_steps
        high = np.array(
            [X_LIMIT * 2, np.finfo(np.float32).max, THETA_LIMIT * 2, np.finfo(np.float32).max],
            dtype=np.float32,
        )
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.state = np.zeros((num_envs, 4))
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._rng = np.random.default_rng()

    def _fresh(self, n: int) -> np.ndarray:
        return self._rng.uniform(-0.05, 0.05, size=(n, 4))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.state = self._fresh(self.num_envs)
        self.steps[:] = 0
        self._needs_reset[:] = False
        return self.state.astype(np.float32), {}

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions).reshape(-1)
        if actions.shape != (self.num_envs,) or not np.isin(actions, (0, 1)).all():
            raise ValueError(f"actions must be {self.num_envs} values in {{0, 1}}, got {actions}")
        obs = self.state.astype(np.float32)
        aux = controller_aux(obs, actions, self.mode, self.scale)
        new = cartpole_step(self.state, actions)
        self.steps += 1
        terminated = cartpole_terminated(new)
        truncated = ~terminated & (self.steps >= self.max_episode_steps)
        r_p = np.ones(self.num_envs)
        # Next-step autoreset: envs that ended on the previous step start afresh now.
        reset = self._needs_reset
        if reset.any():
            new[reset] = self._fresh(int(reset.sum()))
            self.steps[reset] = 0
            terminated[reset] = truncated[reset] = False
            r_p[reset] = aux[reset] = 0.0
        self.state = new
        self._needs_reset = terminated | truncated
        info = {"reward_true": r_p, "reward_aux": aux}
        return new.astype(np.float32), r_p + aux, terminated, truncated, info
