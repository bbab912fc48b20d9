"""PerturbDynamics: scale masses and frictions of MuJoCo bodies at every reset."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from advrl.envs.forces import body_ids, check_bodies


def _check_scale(value: Any, name: str) -> tuple[float, float]:
    allowed = f"{name} must be a number > 0 or a range (low, high) with 0 < low <= high"
    is_number = isinstance(value, Real) and not isinstance(value, bool)
    is_range = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in value)
    )
    if not (is_number or is_range):
        raise TypeError(f"{allowed}, got {value!r}")
    low, high = (float(value), float(value)) if is_number else map(float, value)
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high < low:
        raise ValueError(f"{allowed}, got {value!r}")
    return low, high


class PerturbDynamics(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Multiply the mass and the sliding friction of chosen bodies (or all) at each reset.

    A scale is a number, or a ``(low, high)`` range sampled uniformly per episode from the
    wrapper's generator, seeded from ``reset(seed=...)`` (domain randomisation).
    ``info["dynamics"]`` records the scales in use.

    The scales are written into the env's live ``MjModel``, looked up through
    ``env.unwrapped`` at each use: a copy of a Gymnasium MuJoCo env (deepcopy, pickle,
    SubprocVecEnv, Ray) rebuilds its model from the constructor arguments, so a cached handle
    would scale an orphan. A copy re-applies the scales in use to its new model.

    Args:
        env: a MuJoCo env.
        mass_scale: multiplier of ``model.body_mass`` of the bodies.
        friction_scale: multiplier of ``model.geom_friction[:, 0]`` of the bodies' geoms
            (with ``bodies=None``: every geom, the floor included, as in the QARL grid).
        bodies: a list of body names (None: every body).

    Example:
        >>> import gymnasium as gym
        >>> env = PerturbDynamics(gym.make("Hopper-v5"), mass_scale=1.5, bodies=["torso"])
        >>> _, info = env.reset(seed=0)
        >>> info["dynamics"]["mass_scale"]
        1.5
    """

    def __init__(
        self,
        env: gym.Env,
        mass_scale: float | tuple[float, float] = 1.0,
        friction_scale: float | tuple[float, float] = 1.0,
        bodies: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, mass_scale=mass_scale, friction_scale=friction_scale, bodies=bodies
        )
        gym.Wrapper.__init__(self, env)
        self.mass_range = _check_scale(mass_scale, "mass_scale")
        self.friction_range = _check_scale(friction_scale, "friction_scale")
        bodies = None if bodies is None else check_bodies(bodies)
        model = getattr(env.unwrapped, "model", None)
        if not isinstance(model, mujoco.MjModel):
            raise TypeError(f"PerturbDynamics needs a MuJoCo env, got {env.unwrapped!r}")
        if bodies is None:
            self.body_ids = np.arange(1, model.nbody)
            self.geom_ids = np.arange(model.ngeom)
        else:
            self.body_ids = body_ids(model, bodies)
            self.geom_ids = np.flatnonzero(np.isin(model.geom_bodyid, self.body_ids))
        self.base_mass = model.body_mass.copy()
        self.base_friction = model.geom_friction[:, 0].copy()
        self.current: dict[str, float] = {}
        self._rng = np.random.default_rng()

    @property
    def model(self) -> mujoco.MjModel:
        """The env's live ``MjModel``."""
        return self.env.unwrapped.model

    def _draw(self, low: float, high: float) -> float:
        return low if low == high else float(self._rng.uniform(low, high))

    def _apply(self, mass: float, friction: float) -> None:
        """Set the bodies' masses and frictions to ``scale * nominal`` (idempotent)."""
        model = self.model
        model.body_mass[:] = self.base_mass
        model.body_mass[self.body_ids] = self.base_mass[self.body_ids] * mass
        model.geom_friction[:, 0] = self.base_friction
        model.geom_friction[self.geom_ids, 0] = self.base_friction[self.geom_ids] * friction

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD1A]))
        mass, friction = self._draw(*self.mass_range), self._draw(*self.friction_range)
        self._apply(mass, friction)
        self.current = {"mass_scale": mass, "friction_scale": friction}
        obs, info = self.env.reset(seed=seed, options=options)
        info["dynamics"] = dict(self.current)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["dynamics"] = dict(self.current)
        return obs, reward, terminated, truncated, info

    def __setstate__(self, state: dict[str, Any]) -> None:
        # The copied MuJoCo env was rebuilt with its nominal model: scale it as the original.
        self.__dict__.update(state)
        if self.current:
            self._apply(self.current["mass_scale"], self.current["friction_scale"])
