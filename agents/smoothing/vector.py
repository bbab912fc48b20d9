"""Policy smoothing on Gymnasium vector envs: one noise draw for all envs per step.

Named as in ``gymnasium.wrappers.vector``: the vector wrapper has the single-env wrapper's
name (:class:`advrl.agents.smoothing.SmoothObservation`) and lives in this ``vector`` module.
The noise engine (:class:`~advrl.agents.smoothing.wrappers.SmoothingNoise`) is the one the
single-env and SB3 VecEnv wrappers use.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from advrl.agents.smoothing.wrappers import SmoothingNoise
from advrl.vector_observation import VectorTransformObservation, check_vector_env


class SmoothObservation(VectorTransformObservation, gym.utils.RecordConstructorArgs):
    """The vector-env version of :class:`advrl.agents.smoothing.SmoothObservation`: add
    ``N(0, sigma^2 I)`` noise to every observation, one draw for all envs per step.

    With the same seed and one env it produces exactly what the single-env wrapper does,
    across episode ends too, in every autoreset mode. Info: ``obs_clean`` per returned
    observation; under ``AutoresetMode.SAME_STEP``, ``final_obs`` is noised like every
    observation the agent sees, ``final_obs_clean`` holds the clean ones and ``final_info``
    their ``obs_clean``. The observation space becomes unbounded.

    Args:
        env: a vector env with Box observations.
        sigma: noise std, > 0, in the env's raw observation units.
        seed: seed of the noise generator; ``reset(seed=s)`` reseeds it from ``s`` (from the
            first int of a per-env seed list).

    Example:
        >>> import gymnasium as gym, numpy as np
        >>> from advrl.agents.smoothing.vector import SmoothObservation
        >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
        >>> envs = SmoothObservation(envs, sigma=0.1)
        >>> obs, info = envs.reset(seed=0)
        >>> obs.shape, bool(np.abs(obs - info["obs_clean"]).min() > 0)
        ((2, 4), True)
    """

    def __init__(self, env: VectorEnv, sigma: float, seed: int | None = None) -> None:
        check_vector_env(env, "SmoothObservation", "advrl.agents.smoothing.VecSmoothObservation")
        gym.utils.RecordConstructorArgs.__init__(self, sigma=sigma, seed=seed)
        self.noise = SmoothingNoise(env.single_observation_space, sigma, seed)
        self.sigma = self.noise.sigma
        VectorTransformObservation.__init__(self, env, self.noise.space)

    def reseed(self, seed: int) -> None:
        self.noise.reseed(seed)

    def transform(self, obs: np.ndarray, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.noise(obs), {}
