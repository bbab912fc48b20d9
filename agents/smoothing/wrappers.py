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
import numpy.typing as npt
from stable_baselines3.common.vec_env import VecEnv

from advrl.attacks.apply import all_finite, check_seed
from advrl.vec_observation import VecTransformObservation, check_sb3_venv

NOISE_TAIL = 40.0
"""Standard normal draws stay below this in size (``P(|z| > 40) < 1e-300``)."""


def check_sigma(sigma: float, dtype: npt.DTypeLike = np.float64) -> float:
    """Validate a noise std for observations of ``dtype``; returns ``float(sigma)``.

    Raises:
        TypeError: ``sigma`` is not a real number.
        ValueError: ``sigma`` is not finite and > 0, or so large that the noise overflows
            ``dtype`` (``NOISE_TAIL * sigma`` beyond its largest finite value).
    """
    if isinstance(sigma, bool) or not isinstance(sigma, int | float):
        raise TypeError(f"sigma must be a real number, got {sigma!r}")
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    dtype = np.dtype(dtype)
    largest = float(np.finfo(dtype).max) if np.issubdtype(dtype, np.floating) else math.inf
    if not NOISE_TAIL * sigma < largest:
        raise ValueError(
            f"sigma={sigma!r} is too large: {NOISE_TAIL:g} sigma overflows the observation "
            f"dtype {dtype.name} (largest finite value {largest:.3g})"
        )
    return float(sigma)


def _noise_rng(seed: int | None) -> np.random.Generator:
    seed = check_seed(seed)
    return np.random.default_rng(None if seed is None else np.random.SeedSequence([seed, 0x5E0071]))


def _check_box(space: gym.Space) -> gym.spaces.Box:
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"smoothing needs a Box observation space, got {space}")
    return space


class SmoothingNoise:
    """The engine of every smoothing wrapper (one env, SB3 VecEnv, Gymnasium vector env):
    ``obs + sigma * z``, ``z ~ N(0, I)`` from its own generator, in the observations' dtype.

    Args:
        space: the Box observation space of one env.
        sigma: noise std, > 0, in the env's raw observation units.
        seed: seed of the noise generator.

    Example:
        >>> import gymnasium as gym
        >>> noise = SmoothingNoise(gym.spaces.Box(-1, 1, (3,)), sigma=0.1, seed=0)
        >>> noise(np.zeros((2, 3), np.float32)).shape
        (2, 3)
    """

    def __init__(self, space: gym.Space, sigma: float, seed: int | None = None) -> None:
        box = _check_box(space)
        self.sigma = check_sigma(sigma, box.dtype)
        self.space = gym.spaces.Box(-np.inf, np.inf, box.shape, box.dtype)
        """The smoothed observation space: unbounded (Gaussian noise has no bound)."""
        self.rng = _noise_rng(seed)

    def reseed(self, seed: int | None) -> None:
        self.rng = _noise_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` (any shape: one observation or a batch) plus fresh noise of its shape."""
        out = (obs + self.sigma * self.rng.standard_normal(obs.shape)).astype(self.space.dtype)
        if not all_finite(out):  # a huge observation plus noise can still overflow
            raise ValueError(
                f"the smoothed observation is not finite (sigma={self.sigma!r}, dtype "
                f"{self.space.dtype.name}); use a smaller sigma"
            )
        return out


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
        self.noise = SmoothingNoise(env.observation_space, sigma, seed)
        self.sigma, self.observation_space = self.noise.sigma, self.noise.space
        self._last_clean: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.noise.reseed(seed)
        obs, info = super().reset(seed=seed, options=options)
        info["obs_clean"] = self._last_clean
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        info["obs_clean"] = self._last_clean
        return obs, reward, terminated, truncated, info

    def observation(self, observation: np.ndarray) -> np.ndarray:
        self._last_clean = observation
        return self.noise(observation)


class VecSmoothObservation(VecTransformObservation):
    """VecEnv version of :class:`SmoothObservation`: one noise draw for all envs per step.

    With the same seed and one env it produces exactly what :class:`SmoothObservation`
    does, across episode ends too: the gym twin noises an episode's last observation, then
    the next episode's first, and so does this wrapper (the ended envs' last observations in
    one extra draw, before the step's).

    Info keys, per env: ``obs_clean`` is the clean version of the observation returned for
    that env (after an auto-reset, the next episode's first one). Where an episode ended,
    ``terminal_observation`` is *noised* like every observation the agent sees (SB3's
    truncation bootstrap values it) and ``terminal_obs_clean`` holds the clean one.
    ``reset_infos[i]`` (SB3's reset infos) gets ``obs_clean`` of env ``i``'s latest reset, as
    the gym twin's reset info does.

    Args:
        venv: a VecEnv with Box observations.
        sigma: noise std, > 0, in the env's raw observation units.
        seed: seed of the noise generator; ``seed(s)`` reseeds it from ``s``.

    Example:
        >>> import gymnasium as gym
        >>> from stable_baselines3.common.vec_env import DummyVecEnv
        >>> venv = DummyVecEnv([lambda: gym.make("CartPole-v1", max_episode_steps=1)] * 2)
        >>> venv = VecSmoothObservation(venv, 0.1, seed=0)
        >>> venv.reset().shape, sorted(venv.reset_infos[0])
        ((2, 4), ['obs_clean'])
        >>> _, _, dones, infos = venv.step(np.zeros(2, dtype=int))
        >>> final, clean = infos[0]["terminal_observation"], infos[0]["terminal_obs_clean"]
        >>> bool(dones.all()), bool(abs(final - clean).max() > 0)
        (True, True)
    """

    def __init__(self, venv: VecEnv, sigma: float, seed: int | None = None) -> None:
        check_sb3_venv(
            venv, "VecSmoothObservation", "advrl.agents.smoothing.vector.SmoothObservation"
        )
        self.noise = SmoothingNoise(venv.observation_space, sigma, seed)
        self.sigma = self.noise.sigma
        super().__init__(venv, self.noise.space)

    def seed(self, seed: int | None = None):
        if seed is not None:
            self.noise.reseed(seed)
        return self.venv.seed(seed)

    def transform(self, obs: np.ndarray, n: int) -> tuple[np.ndarray, dict[str, list]]:
        return self.noise(obs), {}
