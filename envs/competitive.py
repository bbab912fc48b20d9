"""Two-player competitive MuJoCo games (Gleave et al. 2020, "Adversarial Policies"), written
for mujoco >= 3 as PettingZoo parallel envs.

The originals (Bansal et al. 2018's ``gym-compete``) are MuJoCo 1.31 humanoids and ants.
These keep the games and make the bodies planar and cheap enough to train on a CPU: each
player is a disc that slides and turns on the floor (world-frame thrust in x and y, a yaw
torque) with a one-joint arm to shove with, 4 actuators in all. The players collide with
each other and with the walls; the floor only shows the arena (no contact with it; joint
damping plays friction).

- :class:`Sumo` (``advrl/Sumo-v0``): two players in a ring; a player whose centre leaves the
  ring loses. Both out at once, or the time limit, is a draw. Symmetric: each player
  observes and acts in its own frame (``player_1``'s is turned by 180 degrees about the
  ring's centre), so one policy can play either side.
- :class:`YouShallNotPass` (``advrl/YouShallNotPass-v0``): a ``runner`` starts at one end of
  a walled corridor and wins by crossing the finish line at the other; the ``blocker``,
  starting between them, wins if the time runs out first.

Rewards are zero-sum up to the exploration reward and the control cost: ``win_reward`` (+
for the winner, - for the loser, 0 in a draw) at the end; a dense shaping term (sumo: how
much more the opponent's squared distance from the centre, in ring radii, grew than one's
own this step; the corridor: the runner's progress, negated for the blocker), times
``shaping``; Bansal et al.'s exploration reward for closing in on the opponent (``approach``
times the shrinking of their distance; both players get it); and ``-ctrl_cost * ||a||^2``.
The parts are ``info["reward_win"]``, ``info["reward_shaping"]``, ``info["reward_approach"]``
and ``info["reward_ctrl"]``; ``info["winner"]`` names the winner (None: no result yet or a
draw) once the episode ends.

The physics is the env's own ``model`` / ``data`` (pickled, copied and sent between
processes with it); nothing caches a handle into them.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from pettingzoo import ParallelEnv

TIMESTEP, FRAME_SKIP = 0.01, 4  # 0.04 s per env step
ACTUATORS = ("x", "y", "yaw", "shoulder")
OBS_DIM = 18  # own 9 (x, y, cos, sin, shoulder; 4 velocities) + the opponent's 9, relative

_PLAYER = """
    <body name="{name}" pos="0 0 0.1">
      <joint name="{name}_x" type="slide" axis="1 0 0" damping="10"/>
      <joint name="{name}_y" type="slide" axis="0 1 0" damping="10"/>
      <joint name="{name}_yaw" type="hinge" axis="0 0 1" damping="1"/>
      <geom name="{name}_torso" type="cylinder" size="0.2 0.1" mass="5" rgba="{rgba}"/>
      <body name="{name}_arm" pos="0.2 0 0">
        <joint name="{name}_shoulder" type="hinge" axis="0 0 1" range="-90 90" damping="0.2"/>
        <geom name="{name}_arm" type="capsule" fromto="0 0 0 0.3 0 0" size="0.05" mass="0.5"
              rgba="{rgba}"/>
      </body>
    </body>"""
_MOTORS = """
    <motor joint="{name}_x" gear="10" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="{name}_y" gear="10" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="{name}_yaw" gear="1" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="{name}_shoulder" gear="2" ctrlrange="-1 1" ctrllimited="true"/>"""
_COLOURS = ("0.85 0.3 0.25 1", "0.25 0.45 0.85 1")


@functools.cache
def arena_xml(players: tuple[str, str], arena: str) -> str:
    """The MJCF of a game: a visual floor (``arena``'s geoms) and the two players."""
    bodies = "".join(_PLAYER.format(name=n, rgba=c) for n, c in zip(players, _COLOURS, strict=True))
    motors = "".join(_MOTORS.format(name=n) for n in players)
    return f"""<mujoco model="advrl_duel">
  <option timestep="{TIMESTEP}" gravity="0 0 0"/>
  <default><geom contype="1" conaffinity="1" friction="0.5 0.005 0.0001"/></default>
  <worldbody>
    <light pos="0 0 6" dir="0 0 -1"/>
    <geom name="floor" type="plane" size="6 6 0.1" rgba="0.9 0.9 0.85 1" contype="0"
          conaffinity="0"/>
{arena}{bodies}
  </worldbody>
  <actuator>{motors}
  </actuator>
</mujoco>"""


class _Duel(ParallelEnv, ABC):
    """What both games share: the physics, the players' observations, actions and costs."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 25}
    arena = ""
    # Per player: the 2-D rotation (+1 or -1 about the centre) of its own frame.
    frames: tuple[float, float] = (1.0, 1.0)

    def __init__(
        self,
        max_cycles: int = 250,
        win_reward: float = 10.0,
        shaping: float = 5.0,
        approach: float = 1.0,
        ctrl_cost: float = 0.0005,  # per episode at most 0.5: small against a win (10)
        reset_noise: float = 0.1,
        render_mode: str | None = None,
    ) -> None:
        if isinstance(max_cycles, bool) or not isinstance(max_cycles, int) or max_cycles < 1:
            raise ValueError(f"max_cycles must be an int >= 1, got {max_cycles!r}")
        for name, value in (("win_reward", win_reward), ("shaping", shaping),
                            ("approach", approach), ("ctrl_cost", ctrl_cost),
                            ("reset_noise", reset_noise)):  # fmt: skip
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.max_cycles, self.win_reward, self.shaping = max_cycles, float(win_reward), shaping
        self.ctrl_cost, self.reset_noise, self.render_mode = ctrl_cost, reset_noise, render_mode
        self.approach = float(approach)
        self.agents: list[str] = []
        self.model = mujoco.MjModel.from_xml_string(arena_xml(tuple(self.possible_agents),
                                                              self.arena))  # fmt: skip
        self.data = mujoco.MjData(self.model)
        self._obs_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float64)
        self._act_space = gym.spaces.Box(-1.0, 1.0, (len(ACTUATORS),), np.float32)
        self._renderer = None
        self.np_random = np.random.default_rng()
        self.cycles = 0

    def observation_space(self, agent: str) -> gym.Space:
        self._check_agent(agent)
        return self._obs_space

    def action_space(self, agent: str) -> gym.Space:
        self._check_agent(agent)
        return self._act_space

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; this game has {self.possible_agents}")

    # -- state ---------------------------------------------------------------------------

    def _qpos(self, i: int) -> np.ndarray:
        """Player i's (x, y, yaw, shoulder), in the world frame."""
        return self.data.qpos[4 * i : 4 * i + 4]

    def _qvel(self, i: int) -> np.ndarray:
        return self.data.qvel[4 * i : 4 * i + 4]

    def positions(self) -> np.ndarray:
        """Both players' centres in the world frame, shape (2, 2)."""
        return np.stack([self._qpos(0)[:2], self._qpos(1)[:2]]).copy()

    def _observe(self, i: int) -> np.ndarray:
        """Player i's observation in its own frame: itself, then the opponent relative to it."""
        s = self.frames[i]
        yaw_turn = 0.0 if s > 0 else math.pi
        parts = []
        for j in (i, 1 - i):
            x, y, yaw, shoulder = self._qpos(j)
            vx, vy, wyaw, wshoulder = self._qvel(j)
            pos = s * np.array([x, y])
            if j != i:
                pos = pos - s * self._qpos(i)[:2]
            parts.append([*pos, math.cos(yaw + yaw_turn), math.sin(yaw + yaw_turn), shoulder,
                          s * vx, s * vy, wyaw, wshoulder])  # fmt: skip
        return np.asarray(parts, dtype=np.float64).ravel()

    def _place(self, i: int, xy: tuple[float, float], yaw: float) -> None:
        noise = self.np_random.uniform(-self.reset_noise, self.reset_noise, 3)
        self._qpos(i)[:] = [xy[0] + noise[0], xy[1] + noise[1], yaw + noise[2], 0.0]

    # -- the ParallelEnv API ----------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        mujoco.mj_resetData(self.model, self.data)
        self.start()
        mujoco.mj_forward(self.model, self.data)
        self.agents, self.cycles = list(self.possible_agents), 0
        return ({a: self._observe(i) for i, a in enumerate(self.agents)},
                {a: {} for a in self.agents})  # fmt: skip

    def step(self, actions: dict[str, Any]):
        if set(actions) != set(self.agents):
            raise ValueError(
                f"actions are for agents {sorted(actions)}; expected exactly {sorted(self.agents)}"
            )
        acts = [np.clip(np.asarray(actions[a], dtype=np.float64).reshape(len(ACTUATORS)), -1, 1)
                for a in self.possible_agents]  # fmt: skip
        for i, a in enumerate(acts):
            ctrl = a.copy()
            ctrl[:2] *= self.frames[i]  # thrust is given in the player's own frame
            self.data.ctrl[4 * i : 4 * i + 4] = ctrl
        before = self.positions()
        mujoco.mj_step(self.model, self.data, nstep=FRAME_SKIP)
        self.cycles += 1
        winner, over = self.outcome()
        truncated = not over and self.cycles >= self.max_cycles
        after = self.positions()
        shaping = self.shaping * self.progress(before, after)
        # Bansal et al.'s exploration reward: closing in on the opponent (both get it)
        closer = np.linalg.norm(before[0] - before[1]) - np.linalg.norm(after[0] - after[1])
        agents, rewards, infos = self.agents, {}, {}
        for i, agent in enumerate(agents):
            win = 0.0 if winner is None else (1.0 if winner == agent else -1.0)
            parts = {"reward_win": self.win_reward * win, "reward_shaping": float(shaping[i]),
                     "reward_approach": self.approach * float(closer),
                     "reward_ctrl": -self.ctrl_cost * float(acts[i] @ acts[i])}  # fmt: skip
            rewards[agent] = sum(parts.values())
            infos[agent] = {**parts, "winner": winner if (over or truncated) else None}
        if over or truncated:
            self.agents = []
        obs = {a: self._observe(i) for i, a in enumerate(agents)}
        return (obs, rewards, {a: over for a in agents}, {a: truncated for a in agents}, infos)

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, 240, 320)
        self._renderer.update_scene(self.data)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_renderer"] = None  # a GL context does not travel; a copy makes its own
        return state

    # -- the game ---------------------------------------------------------------------------

    @abstractmethod
    def start(self) -> None:
        """Place both players for a new game (``_place``)."""

    @abstractmethod
    def outcome(self) -> tuple[str | None, bool]:
        """(winner or None, whether the game is over)."""

    @abstractmethod
    def progress(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """Each player's dense shaping for this step (zero-sum), shape (2,)."""


class Sumo(_Duel):
    """Two players in a ring of radius ``ring_radius``; pushing the other out wins.

    Example:
        >>> from pettingzoo.test import parallel_api_test
        >>> env = Sumo(max_cycles=30)
        >>> parallel_api_test(env, num_cycles=40)
        Passed Parallel API test
        >>> obs, _ = Sumo(reset_noise=0.0).reset(seed=0)
        >>> obs["player_0"].shape, float(obs["player_0"][9])  # the opponent's dx
        ((18,), 1.6)
    """

    metadata = {**_Duel.metadata, "name": "advrl_sumo_v0"}
    possible_agents = ["player_0", "player_1"]
    frames = (1.0, -1.0)
    arena = ('    <geom name="ring" type="cylinder" size="{r} 0.001" pos="0 0 0.001" '
             'rgba="0.75 0.7 0.6 1" contype="0" conaffinity="0"/>\n')  # fmt: skip

    def __init__(self, ring_radius: float = 2.0, start_distance: float = 1.6, **kwargs: Any):
        if not (math.isfinite(ring_radius) and ring_radius > 0.5):
            raise ValueError(f"ring_radius must be a finite number > 0.5, got {ring_radius!r}")
        if not (math.isfinite(start_distance) and 0.5 <= start_distance < 2 * ring_radius):
            raise ValueError(f"start_distance must be in [0.5, 2 * ring_radius), got "
                             f"{start_distance!r}")  # fmt: skip
        self.ring_radius, self.start_distance = float(ring_radius), float(start_distance)
        self.arena = type(self).arena.format(r=self.ring_radius)
        super().__init__(**kwargs)

    def start(self) -> None:
        half = self.start_distance / 2
        self._place(0, (-half, 0.0), 0.0)
        self._place(1, (half, 0.0), math.pi)

    def outcome(self) -> tuple[str | None, bool]:
        out = np.linalg.norm(self.positions(), axis=1) > self.ring_radius
        if out.all():
            return None, True
        if out.any():
            return self.possible_agents[int(np.argmin(out))], True
        return None, False

    def progress(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        # A convex potential (d / R)^2 of each player's distance from the centre: with a
        # linear one, pushing the opponent outwards costs as much as it earns (the pusher
        # leaves the centre as fast), and self-play stops at a draw in the middle.
        def potential(xy: np.ndarray) -> np.ndarray:
            return (np.linalg.norm(xy, axis=1) / self.ring_radius) ** 2

        gain = potential(after) - potential(before)
        return np.array([gain[1] - gain[0], gain[0] - gain[1]])


class YouShallNotPass(_Duel):
    """A runner crosses a walled corridor to the finish line; a blocker stops it in time.

    Example:
        >>> env = YouShallNotPass()
        >>> obs, _ = env.reset(seed=0)
        >>> sorted(obs), env.finish_x
        (['blocker', 'runner'], 3.0)
    """

    metadata = {**_Duel.metadata, "name": "advrl_you_shall_not_pass_v0"}
    possible_agents = ["runner", "blocker"]
    finish_x, start_x, half_width = 3.0, -3.0, 1.5
    arena = "".join(
        f'    <geom name="wall_{n}" type="box" size="{sx} {sy} 0.2" pos="{px} {py} 0.2" '
        'rgba="0.5 0.5 0.5 1"/>\n'
        for n, (sx, sy, px, py) in {"left": (4.2, 0.1, 0, 1.6), "right": (4.2, 0.1, 0, -1.6),
                                    "back": (0.1, 1.5, -4.1, 0)}.items()
    ) + ('    <geom name="finish" type="box" size="0.02 1.5 0.001" pos="3 0 0.001" '
         'rgba="0.2 0.7 0.2 1" contype="0" conaffinity="0"/>\n')  # fmt: skip

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_cycles", 250)
        # Crossing the corridor is worth ``shaping``: at sumo's 5 a PPO runner never learns
        # to run (the time-out's -10, which its observation cannot foresee, swamps a 0.03
        # per-step signal); at 20 it crosses against a random blocker within 100k steps.
        kwargs.setdefault("shaping", 20.0)
        super().__init__(**kwargs)

    def start(self) -> None:
        self._place(0, (self.start_x, 0.0), 0.0)
        self._place(1, (0.0, 0.0), math.pi)

    def outcome(self) -> tuple[str | None, bool]:
        if self._qpos(0)[0] >= self.finish_x:
            return "runner", True
        if self.cycles >= self.max_cycles:  # time is up: the blocker held
            return "blocker", True
        return None, False

    def progress(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        run = (after[0, 0] - before[0, 0]) / (self.finish_x - self.start_x)
        return np.array([run, -run])


GAMES: dict[str, type[_Duel]] = {"sumo": Sumo, "you_shall_not_pass": YouShallNotPass}
"""The games by name (``advrl/Sumo-v0`` is ``"sumo"``)."""


def make_game(game: str, **kwargs: Any) -> _Duel:
    """A game by name (:data:`GAMES`), with its keyword arguments."""
    if game not in GAMES:
        raise ValueError(f"unknown game {game!r}; allowed: {sorted(GAMES)}")
    return GAMES[game](**kwargs)


def player_view(game: str = "sumo", agent: str | None = None, opponent: str = "random",
                **game_kwargs: Any) -> gym.Env:  # fmt: skip
    """One player's Gymnasium view of a game, the other playing ``"random"`` or ``"zero"``
    (``advrl/SumoPlayer-v0``, ``advrl/YouShallNotPassPlayer-v0``).

    This is the env a single player's policy is built, checked and shipped against (zoo
    checkpoints name a Gymnasium id); to play it against a learned opponent, use
    :class:`~advrl.envs.agent_view.AgentView` or ``VecAgentView`` on :func:`make_game`.

    Example:
        >>> env = player_view("you_shall_not_pass", "runner")
        >>> env.observation_space.shape, env.action_space.shape
        ((18,), (4,))
    """
    from advrl.envs.agent_view import AgentView

    env = make_game(game, **game_kwargs)
    agent = env.possible_agents[0] if agent is None else agent
    env._check_agent(agent)
    if opponent not in ("random", "zero"):
        raise ValueError(f"opponent must be 'random' or 'zero' here, got {opponent!r}")
    others = {a: opponent for a in env.possible_agents if a != agent}
    return AgentView(env, agent, others)
