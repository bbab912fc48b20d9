"""The cheap-talk MDP as a PettingZoo ParallelEnv: an adversary talks, the victim acts.

Adversarial Cheap Talk (Lu et al., ICML 2023, section 3). The adversary observes the
environment observation only and its action is a message in ``[-1, 1]^dims``; the victims see
``scale * message`` appended to their observation. The adversary cannot act on the dynamics or
the reward (its action reaches nothing else).

Moves are simultaneous in the parallel API, so the message chosen on observation ``s_t``
reaches the victim with ``s_{t+1}`` (a one-step delay, like the communication channel of the
MPE speaker-listener task); the first observation after ``reset`` carries a zero message.
:class:`~advrl.envs.cheap_talk.AddCheapTalk` is the delay-free single-agent channel with a
fixed message source; ``AgentView(env, "victim", {"adversary": message_policy(source)})``
is the victim's single-agent view of this game.

Two games: :class:`CheapTalkEnv` over a single-agent Gymnasium env (agents ``"adversary"``
and ``"victim"``), and :class:`CheapTalkParallelEnv` over a multi-agent ParallelEnv (e.g. an
``mpe2`` task), where one message is broadcast to every base agent.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from advrl.envs.cheap_talk import MessageSource, _Channel
from advrl.envs.forces import check_max_cycles

ADVERSARY, VICTIM = "adversary", "victim"
_REWARD_SIGNS = {"anti": -1.0, "pro": 1.0, "zero": 0.0}


class MessagePolicy:
    """An adversary policy for these games from a message source: ``tanh(source(obs))``.

    A class rather than a closure so that views over the game pickle (SubprocVecEnv, Ray).

    Example:
        >>> from advrl.envs.cheap_talk import FixedMessage
        >>> MessagePolicy(FixedMessage([0.0, 100.0]))(np.zeros((1, 4), np.float32))
        array([[0., 1.]], dtype=float32)
    """

    def __init__(self, source: MessageSource) -> None:
        self.source = source

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.tanh(np.asarray(self.source(obs), dtype=np.float64)).astype(np.float32)


def message_policy(source: MessageSource) -> MessagePolicy:
    """``MessagePolicy(source)``: the adversary policy ``tanh(source(obs))``.

    Example:
        >>> from advrl.envs.cheap_talk import FixedMessage
        >>> message_policy(FixedMessage([0.0, 100.0]))(np.zeros((1, 4), np.float32))
        array([[0., 1.]], dtype=float32)
    """
    return MessagePolicy(source)


def _reward_sign(adversary_reward: str) -> float:
    if adversary_reward not in _REWARD_SIGNS:
        raise ValueError(
            f"adversary_reward must be one of {sorted(_REWARD_SIGNS)}, got {adversary_reward!r}"
        )
    return _REWARD_SIGNS[adversary_reward]


def _message_action_space(dims: int) -> gym.spaces.Box:
    return gym.spaces.Box(-1.0, 1.0, (dims,), dtype=np.float32)


def _adversary_message(channel: _Channel, action: Any) -> np.ndarray:
    action = np.asarray(action, dtype=np.float64).reshape(-1)
    if action.shape != (channel.dims,):
        raise ValueError(
            f"the adversary's message must have shape ({channel.dims},), got {action.shape}"
        )
    return (channel.scale * np.clip(action, -1.0, 1.0))[None]


class CheapTalkEnv(ParallelEnv):
    """A single-agent Gymnasium task with a cheap-talk adversary (agents adversary, victim).

    Args:
        env_id: Gymnasium id of the task (or pass ``env``).
        env: an already built task instead of ``env_id``.
        dims: message size (> 0).
        scale: message bound (> 0); 2*pi in the paper.
        adversary_reward: ``"anti"`` (minus the victim's reward), ``"pro"`` (plus) or
            ``"zero"`` (ACT optimises the adversary on training outcomes, not per step).
        key: Dict observation key for the message.
        render_mode: passed to ``gym.make``.
        max_cycles: episode length in steps (PettingZoo's argument): replaces the time limit
            of ``env_id``; a given ``env`` is truncated after at most ``max_cycles`` steps.

    Example:
        >>> env = CheapTalkEnv("CartPole-v1")
        >>> obs, _ = env.reset(seed=0)
        >>> obs["adversary"].shape, obs["victim"].shape
        ((4,), (6,))
        >>> obs, rew, *_ = env.step({"adversary": np.array([1.0, -1.0]), "victim": 0})
        >>> np.round(obs["victim"][4:], 3), rew["adversary"]
        (array([ 6.283, -6.283], dtype=float32), -1.0)
    """

    metadata = {"name": "advrl_cheap_talk_v0", "render_modes": ["rgb_array"]}

    def __init__(
        self,
        env_id: str | None = None,
        env: gym.Env | None = None,
        dims: int = 2,
        scale: float = 2 * math.pi,
        adversary_reward: str = "anti",
        key: str = "message",
        render_mode: str | None = None,
        max_cycles: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        if (env_id is None) == (env is None):
            raise ValueError("give exactly one of env_id and env")
        max_cycles = check_max_cycles(max_cycles)
        if env is None:
            if max_cycles is not None:
                env_kwargs["max_episode_steps"] = max_cycles
            env = gym.make(env_id, render_mode=render_mode, **env_kwargs)
        elif max_cycles is not None:
            env = gym.wrappers.TimeLimit(env, max_cycles)
        self.task = env
        self.render_mode = getattr(self.task, "render_mode", render_mode)
        self.sign = _reward_sign(adversary_reward)
        space = self.task.observation_space
        self.channel = _Channel(space, "zero", dims, scale, key)
        self._spaces = {
            ADVERSARY: (gym.spaces.flatten_space(space), _message_action_space(self.channel.dims)),
            VICTIM: (self.channel.space, self.task.action_space),
        }
        self.possible_agents = [ADVERSARY, VICTIM]
        self.agents: list[str] = []
        self._message = np.zeros((1, self.channel.dims))

    def observation_space(self, agent: str) -> gym.Space:
        return self._spaces[agent][0]

    def action_space(self, agent: str) -> gym.Space:
        return self._spaces[agent][1]

    def _observe(self, obs: Any) -> dict[str, Any]:
        batched = (
            {k: np.asarray(v)[None] for k, v in obs.items()}
            if isinstance(obs, dict)
            else np.asarray(obs)[None]
        )
        victim = self.channel.attach(batched, self._message)
        victim = {k: v[0] for k, v in victim.items()} if isinstance(victim, dict) else victim[0]
        adversary = self.channel.flat_batch(batched, 1)[0].astype(self._spaces[ADVERSARY][0].dtype)
        return {ADVERSARY: adversary, VICTIM: victim}

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, info = self.task.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self._message = np.zeros((1, self.channel.dims))
        info = {**info, "obs_clean": obs, "message": self._message[0].astype(np.float32)}
        return self._observe(obs), {ADVERSARY: {}, VICTIM: info}

    def step(self, actions: dict[str, Any]):
        self._message = _adversary_message(self.channel, actions[ADVERSARY])
        obs, reward, terminated, truncated, info = self.task.step(actions[VICTIM])
        info = {**info, "obs_clean": obs, "message": self._message[0].astype(np.float32)}
        reward = float(reward)
        rewards = {VICTIM: reward, ADVERSARY: self.sign * reward + 0.0}
        terms = {a: bool(terminated) for a in self.agents}
        truncs = {a: bool(truncated) for a in self.agents}
        if terminated or truncated:
            self.agents = []
        return self._observe(obs), rewards, terms, truncs, {ADVERSARY: {}, VICTIM: info}

    def render(self) -> Any:
        return self.task.render()

    def close(self) -> None:
        self.task.close()


class CheapTalkParallelEnv(ParallelEnv):
    """A multi-agent ParallelEnv whose agents all hear one cheap-talk adversary.

    The adversary observes every base agent's observation, flattened and concatenated in
    ``possible_agents`` order (zeros for agents that have left), and its message is appended to
    each base agent's observation. Its reward is ``sign * mean`` of the base agents' rewards.

    Example:
        >>> from mpe2 import simple_spread_v3
        >>> env = CheapTalkParallelEnv(simple_spread_v3.parallel_env(N=2))
        >>> env.possible_agents
        ['adversary', 'agent_0', 'agent_1']
        >>> obs, _ = env.reset(seed=0)
        >>> obs["adversary"].shape, obs["agent_0"].shape
        ((24,), (14,))
    """

    def __init__(
        self,
        env: ParallelEnv,
        dims: int = 2,
        scale: float = 2 * math.pi,
        adversary_reward: str = "anti",
        key: str = "message",
    ) -> None:
        if ADVERSARY in env.possible_agents:
            raise ValueError(f"the base env already has an agent named {ADVERSARY!r}")
        self.base, self.sign = env, _reward_sign(adversary_reward)
        self.victims = list(env.possible_agents)
        self.channels = {
            a: _Channel(env.observation_space(a), "zero", dims, scale, key) for a in self.victims
        }
        self.dims = int(dims)
        self._sizes = {a: gym.spaces.flatdim(env.observation_space(a)) for a in self.victims}
        total = sum(self._sizes.values())
        self._spaces = {
            ADVERSARY: (
                gym.spaces.Box(-np.inf, np.inf, (total,), np.float32),
                _message_action_space(self.dims),
            ),
            **{a: (self.channels[a].space, env.action_space(a)) for a in self.victims},
        }
        self.possible_agents = [ADVERSARY, *self.victims]
        self.agents: list[str] = []
        self.metadata = {**getattr(env, "metadata", {}), "name": "advrl_cheap_talk_parallel_v0"}
        self.render_mode = getattr(env, "render_mode", None)
        self._message = np.zeros((1, self.dims))

    def observation_space(self, agent: str) -> gym.Space:
        return self._spaces[agent][0]

    def action_space(self, agent: str) -> gym.Space:
        return self._spaces[agent][1]

    def _observe(self, obs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        parts = []
        for a in self.victims:
            channel = self.channels[a]
            if a in obs:
                o = obs[a]
                batched = (
                    {k: np.asarray(v)[None] for k, v in o.items()}
                    if isinstance(o, dict)
                    else np.asarray(o)[None]
                )
                parts.append(channel.flat_batch(batched, 1)[0])
                talk = channel.attach(batched, self._message)
                out[a] = {k: v[0] for k, v in talk.items()} if isinstance(talk, dict) else talk[0]
            else:
                parts.append(np.zeros(self._sizes[a], np.float32))
        out[ADVERSARY] = np.concatenate(parts).astype(np.float32)
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.base.reset(seed=seed, options=options)
        self.agents = [ADVERSARY, *self.base.agents]
        self._message = np.zeros((1, self.dims))
        return self._observe(obs), {ADVERSARY: {}, **{a: dict(infos.get(a, {})) for a in obs}}

    def step(self, actions: dict[str, Any]):
        channel = self.channels[self.victims[0]]
        self._message = _adversary_message(channel, actions[ADVERSARY])
        obs, rewards, terms, truncs, infos = self.base.step(
            {a: actions[a] for a in self.base.agents}
        )
        rewards = {a: float(r) for a, r in rewards.items()}
        mean = float(np.mean(list(rewards.values()))) if rewards else 0.0
        rewards[ADVERSARY] = self.sign * mean + 0.0
        alive = [a for a in self.base.agents]
        ends = bool(not alive)
        terms = {**{a: bool(v) for a, v in terms.items()}, ADVERSARY: ends and all(terms.values())}
        truncs = {
            **{a: bool(v) for a, v in truncs.items()},
            ADVERSARY: ends and not terms[ADVERSARY],
        }
        self.agents = [ADVERSARY, *alive] if alive else []
        infos = {ADVERSARY: {}, **{a: dict(i) for a, i in infos.items()}}
        return self._observe(obs), rewards, terms, truncs, infos

    def render(self) -> Any:
        return self.base.render()

    def close(self) -> None:
        self.base.close()


def mpe_cheap_talk(
    task: str = "simple_spread_v3",
    dims: int = 2,
    scale: float = 2 * math.pi,
    adversary_reward: str = "anti",
    **task_kwargs: Any,
) -> CheapTalkParallelEnv:
    """An ``mpe2`` task (``mpe2.<task>.parallel_env(**task_kwargs)``) with a cheap-talk
    adversary; discrete actions unless ``continuous_actions=True`` is passed."""
    try:
        module = importlib.import_module(f"mpe2.{task}")
    except ModuleNotFoundError as err:
        if err.name == "mpe2":
            raise ImportError("mpe2 is not installed: pip install mpe2") from err
        raise ValueError(f"unknown mpe2 task {task!r} (e.g. 'simple_spread_v3')") from err
    return CheapTalkParallelEnv(module.parallel_env(**task_kwargs), dims, scale, adversary_reward)
