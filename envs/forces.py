"""Two-player MuJoCo: a protagonist runs the task while an adversary pushes bodies around.

RARL (Pinto et al. 2017) and QARL (Reddi et al. 2024): each step the adversary writes a
planar force ``[fx, 0, fz, 0, 0, 0]`` into ``data.xfrc_applied`` of chosen bodies, bounded by
``max_force`` per component. Zero-sum: the adversary's reward is minus the task reward.
The Gymnasium task is wrapped, never forked.

The physics (``MjModel``, ``MjData``) is reached through ``task.unwrapped`` at every use, never
cached: a copy of a Gymnasium MuJoCo env (deepcopy, pickle, SubprocVecEnv, Ray) rebuilds its
physics from the constructor arguments, and a cached handle would act on an orphan copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from pettingzoo import ParallelEnv

PROTAGONIST, ADVERSARY = "protagonist", "adversary"


@dataclass(frozen=True)
class ForceSpec:
    """Which bodies the adversary pushes, and how hard (newtons per force component)."""

    bodies: tuple[str, ...]
    max_force: float


FORCE_DEFAULTS: dict[str, ForceSpec] = {
    # QARL (Reddi et al. 2024): 1 N per component on these bodies.
    "HalfCheetah-v5": ForceSpec(("torso", "bfoot", "ffoot"), 1.0),
    "Hopper-v5": ForceSpec(("foot",), 1.0),
    "Walker2d-v5": ForceSpec(("foot", "foot_left"), 1.0),
    # RARL-style push on the pole; 5 N gives the 5 kg pole 1 m/s^2 (our choice of magnitude).
    "InvertedPendulum-v5": ForceSpec(("pole",), 5.0),
}


def check_max_cycles(max_cycles: int | None) -> int | None:
    """``max_cycles`` as an int (None: keep the task's time limit); PettingZoo's episode length."""
    if max_cycles is None:
        return None
    if isinstance(max_cycles, bool) or not isinstance(max_cycles, int | np.integer):
        raise TypeError(f"max_cycles must be an integer >= 1 or None, got {max_cycles!r}")
    if max_cycles < 1:
        raise ValueError(f"max_cycles must be an integer >= 1 or None, got {max_cycles!r}")
    return int(max_cycles)


def check_bodies(bodies: Any) -> tuple[str, ...]:
    """Body names as a tuple; a bare string (``"torso"``) is an error, not five letters."""
    if isinstance(bodies, str) or not isinstance(bodies, list | tuple):
        hint = f"; did you mean [{bodies!r}]?" if isinstance(bodies, str) else ""
        raise TypeError(f"bodies must be a list or tuple of body names, got {bodies!r}{hint}")
    if not all(isinstance(b, str) for b in bodies):
        raise TypeError(f"bodies must be a list or tuple of body names (str), got {bodies!r}")
    return tuple(bodies)


def body_ids(model: mujoco.MjModel, names: tuple[str, ...]) -> np.ndarray:
    """MuJoCo ids of named bodies; unknown names raise with the list of valid ones."""
    valid = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(model.nbody)]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"unknown body name(s) {unknown}; valid bodies: {valid[1:]}")
    return np.array([valid.index(n) for n in names], dtype=np.int64)


class ForceAdversaryEnv(ParallelEnv):
    """PettingZoo parallel env: ``"protagonist"`` acts in the task, ``"adversary"`` applies
    planar forces to ``bodies``.

    Both agents observe the task observation. The adversary's action lies in [-1, 1]^(2k)
    (clipped) and is scaled to ``strength * max_force``: ``(fx, fz)`` per body.

    Args:
        env_id: a Gymnasium MuJoCo task (v5).
        bodies: bodies to push (default from :data:`FORCE_DEFAULTS`).
        max_force: bound per force component in newtons (default from the table), >= 0.
        strength: fraction of ``max_force`` in use, in [0, 1] (RARL trains at 0.25).
        max_cycles: episode length in steps (PettingZoo's argument; replaces the task's time
            limit), None for the task's own.

    Example:
        >>> from pettingzoo.test import parallel_api_test
        >>> env = ForceAdversaryEnv("InvertedPendulum-v5")
        >>> parallel_api_test(env, num_cycles=20)
        Passed Parallel API test
    """

    metadata = {"name": "advrl_force_adversary_v0", "render_modes": ["rgb_array"]}

    def __init__(
        self,
        env_id: str = "InvertedPendulum-v5",
        bodies: tuple[str, ...] | list[str] | None = None,
        max_force: float | None = None,
        strength: float = 1.0,
        render_mode: str | None = None,
        max_cycles: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        if env_id not in gym.registry:
            raise ValueError(f"unknown env id {env_id!r}; see gymnasium.registry")
        default = FORCE_DEFAULTS.get(env_id)
        if (bodies is None or max_force is None) and default is None:
            raise ValueError(
                f"no force defaults for {env_id!r} (known: {sorted(FORCE_DEFAULTS)}); "
                "pass bodies and max_force"
            )
        self.bodies = check_bodies(bodies) if bodies is not None else default.bodies
        max_force = float(max_force if max_force is not None else default.max_force)
        if not math.isfinite(max_force) or max_force < 0:
            raise ValueError(f"max_force must be a finite number >= 0, got {max_force!r}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength!r}")
        self.max_force, self.strength = max_force, float(strength)
        self.env_id = env_id
        self.render_mode = render_mode
        max_cycles = check_max_cycles(max_cycles)
        if max_cycles is not None:
            env_kwargs["max_episode_steps"] = max_cycles
        self.task = gym.make(env_id, render_mode=render_mode, **env_kwargs)
        self.body_ids = body_ids(self.model, self.bodies)
        self.possible_agents = [PROTAGONIST, ADVERSARY]
        self.agents: list[str] = []
        obs_space = self.task.observation_space
        self._spaces = {
            PROTAGONIST: (obs_space, self.task.action_space),
            ADVERSARY: (
                obs_space,
                gym.spaces.Box(-1.0, 1.0, (2 * len(self.bodies),), np.float32),
            ),
        }

    @property
    def model(self) -> mujoco.MjModel:
        """The task's live ``MjModel`` (looked up at each use; see the module docstring)."""
        return self.task.unwrapped.model

    @property
    def data(self) -> mujoco.MjData:
        """The task's live ``MjData``."""
        return self.task.unwrapped.data

    def observation_space(self, agent: str) -> gym.Space:
        return self._spaces[agent][0]

    def action_space(self, agent: str) -> gym.Space:
        return self._spaces[agent][1]

    def force(self, adversary_action: np.ndarray) -> np.ndarray:
        """Planar forces, shape (n_bodies, 2) as (fx, fz), from an adversary action."""
        a = np.clip(np.asarray(adversary_action, dtype=np.float64), -1.0, 1.0)
        return (self.strength * self.max_force) * a.reshape(len(self.bodies), 2)

    def apply_force(self, planar: np.ndarray) -> None:
        """Write ``[fx, 0, fz, 0, 0, 0]`` per body; it persists over the frame-skip substeps."""
        xfrc = self.data.xfrc_applied
        xfrc[:] = 0.0
        xfrc[self.body_ids, 0] = planar[:, 0]
        xfrc[self.body_ids, 2] = planar[:, 1]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, info = self.task.reset(seed=seed, options=options)
        self.data.xfrc_applied[:] = 0.0
        self.agents = list(self.possible_agents)
        # Both agents see the same (fresh, never mutated) observation array.
        return {a: obs for a in self.agents}, {a: dict(info) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if set(actions) != set(self.agents):
            raise ValueError(
                f"actions are for agents {sorted(actions)}; expected exactly {sorted(self.agents)}"
            )
        planar = self.force(actions[ADVERSARY])
        self.apply_force(planar)
        obs, reward, terminated, truncated, info = self.task.step(actions[PROTAGONIST])
        reward = float(reward)
        info = dict(info, reward_true=reward, force=planar.copy())
        rewards = {PROTAGONIST: reward, ADVERSARY: -reward}
        infos = {PROTAGONIST: info, ADVERSARY: dict(info)}
        agents = self.agents
        if terminated or truncated:
            self.agents = []
        return (
            {a: obs for a in agents},
            rewards,
            {a: bool(terminated) for a in agents},
            {a: bool(truncated) for a in agents},
            infos,
        )

    def render(self):
        return self.task.render()

    def close(self) -> None:
        self.task.close()


def protagonist_view(
    env_id: str = "InvertedPendulum-v5",
    adversary: Any = "random",
    bodies: tuple[str, ...] | list[str] | None = None,
    max_force: float | None = None,
    strength: float = 1.0,
    render_mode: str | None = None,
) -> gym.Env:
    """The protagonist's Gymnasium env with a pluggable adversary: ``"none"`` (no force),
    ``"random"`` (uniform forces), or a batched policy / :class:`~advrl.envs.agent_view.Opponent`
    (a trained adversary)."""
    from advrl.envs.agent_view import AgentView

    game = ForceAdversaryEnv(env_id, bodies, max_force, strength, render_mode)
    return AgentView(game, PROTAGONIST, {ADVERSARY: "zero" if adversary == "none" else adversary})
