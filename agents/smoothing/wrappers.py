"""SmoothObservation: randomized smoothing of observations (Kumar, Levine, Feizi, ICLR 2022).

The agent acts on ``o_t + N(0, sigma^2 I)`` at every step. The noise comes from the
wrapper's own generator, seeded from ``reset(seed=...)``, so the env's RNG stream is
untouched and a seeded run is reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper


def check_sigma(sigma: float) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, int | float):
        raise TypeError(f"sigma must be a real number, got {sigma!r}")
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    return float(sigma)


def _noise_seed(seed: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, 0x5E0071])


def _check_box(space: gym.Space) -> gym.spaces.Box:
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"smoothing needs a Box observation space, got {space}")
    return space


class SmoothObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Add isotropic Gaussian noise ``N(0, sigma^2 I)`` to every observation.

    Works on any Box observation, stacked frames included. For a certificate that counts
    each frame once, put it *below* frame stacking (noise each frame once, as in the paper);
    above it, every stacked copy of a frame gets fresh noise. The observation space becomes
    unbounded (Gaussian noise has no bound).

    Args:
        env: a Box-observation env.
        sigma: noise std, > 0, in the env's raw observation units.
        seed: seed of the noise generator; ``reset(seed=s)`` reseeds it from ``s``.

    Example:
        >>> import gymnasium as gym
        >>> env = SmoothObservation(gym.make("CartPole-v1"), sigma=0.1, seed=0)
        >>> obs, info = env.reset(seed=0)
        >>> bool(abs(obs - info["obs_clean"]).max() > 0)
        True
    """

    def __init__(self, env: gym.Env, sigma: float, seed: int | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, sigma=sigma, seed=seed)
        gym.ObservationWrapper.__init__(self, env)
        box = _check_box(env.observation_space)
        self.sigma = check_sigma(sigma)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, box.shape, box.dtype)
        self.noise_rng = np.random.default_rng(None if seed is None else _noise_seed(seed))
        self._last_clean: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.noise_rng = np.random.default_rng(_noise_seed(seed))
        obs, info = super().reset(seed=seed, options=options)
        info["obs_clean"] = self._last_clean
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        info["obs_clean"] = self._last_clean
        return obs, reward, terminated, truncated, info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        self._last_clean = observation
        noise = self.noise_rng.standard_normal(observation.shape)
        return (observation + self.sigma * noise).astype(self.observation_space.dtype)


class VecSmoothObservation(VecEnvWrapper):
    """VecEnv version of :class:`SmoothObservation`: one noise draw for all envs per step.

    Example:
        >>> import gymnasium as gym
        >>> from stable_baselines3.common.vec_env import DummyVecEnv
        >>> venv = VecSmoothObservation(DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2), 0.1)
        >>> venv.reset().shape
        (2, 4)
    """

    def __init__(self, venv: VecEnv, sigma: float, seed: int | None = None) -> None:
        box = _check_box(venv.observation_space)
        super().__init__(venv, gym.spaces.Box(-np.inf, np.inf, box.shape, box.dtype))
        self.sigma = check_sigma(sigma)
        self.noise_rng = np.random.default_rng(None if seed is None else _noise_seed(seed))

    def seed(self, seed: int | None = None):
        if seed is not None:
            self.noise_rng = np.random.default_rng(_noise_seed(seed))
        return self.venv.seed(seed)

    def _smooth(self, obs: np.ndarray) -> np.ndarray:
        noise = self.noise_rng.standard_normal(obs.shape)
        return (obs + self.sigma * noise).astype(self.observation_space.dtype)

    def reset(self) -> np.ndarray:
        return self._smooth(self.venv.reset())

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for i, info in enumerate(infos):
            info["obs_clean"] = obs[i]
        return self._smooth(obs), rewards, dones, infos
