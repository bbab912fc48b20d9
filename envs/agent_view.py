"""One agent's view of a PettingZoo ParallelEnv, with the other players' policies fixed.

``AgentView`` is a Gymnasium env; ``VecAgentView`` is an SB3 VecEnv over several copies that
queries each opponent once per step for all copies (one batched forward pass), so training
against a learned opponent costs little more than training alone.

Opponents are given per agent name as ``"zero"``, ``"random"``, a callable mapping a batch of
observations ``(n, *obs_shape)`` to a batch of actions, or an :class:`Opponent` (e.g. around
an SB3 model that is still training: it is read live at every step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from pettingzoo import ParallelEnv
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv

BatchPolicy = Callable[[np.ndarray], np.ndarray]


class Opponent:
    """A batched opponent around an SB3 model (set or swapped later through ``.model``).

    Args:
        model: an SB3 model, or None until it exists (RARL builds both sides' envs first).
        deterministic: act with the policy's mode instead of sampling.
        normalize: optional function applied to observations first (a ``VecNormalize``'s
            ``normalize_obs``), for models trained on normalised observations.
    """

    def __init__(self, model=None, deterministic: bool = False, normalize=None) -> None:
        self.model, self.deterministic, self.normalize = model, deterministic, normalize
        self._adapter_for: Any = None
        self._adapter: Any = None

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("Opponent has no model yet; set opponent.model first")
        if self.normalize is not None:
            obs = self.normalize(obs)
        if isinstance(self.model.policy, ActorCriticPolicy):
            return self._act_actor_critic(obs)
        action, _ = self.model.predict(obs, deterministic=self.deterministic)
        return action

    def _act_actor_critic(self, obs: np.ndarray) -> np.ndarray:
        """PPO/A2C actions straight from the networks: what ``predict`` returns (sampled or
        mode, clipped to the bounds) without its per-call checks, which cost as much as the
        forward pass itself on small batches."""
        if self._adapter_for is not self.model:
            from advrl.policies import from_sb3

            self._adapter, self._adapter_for = from_sb3(self.model), self.model
        policy = self._adapter
        with th.no_grad():
            x = th.as_tensor(obs, dtype=th.float32, device=policy.device)
            if policy.is_discrete:
                logits = policy.action_logits(x)
                if self.deterministic:
                    return logits.argmax(dim=-1).cpu().numpy()
                return th.multinomial(th.softmax(logits, dim=-1), 1).squeeze(-1).cpu().numpy()
            action = policy.action(x)
            if not self.deterministic:
                action = action + policy.action_std(x) * th.randn_like(action)
        space = self.model.action_space
        return np.clip(action.cpu().numpy(), space.low, space.high)


class ZeroPolicy:
    """The ``"zero"`` opponent: the all-zeros action for every observation (a class, not a
    closure, so that views pickle)."""

    def __init__(self, space: gym.Space) -> None:
        self.zero = np.zeros(space.shape, dtype=space.dtype)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.repeat(self.zero[None], len(obs), axis=0)


class RandomPolicy:
    """The ``"random"`` opponent: uniform actions from ``rng`` (shared with the view, which
    reseeds it in place on ``reset(seed=...)``)."""

    def __init__(self, space: gym.Space, rng: np.random.Generator) -> None:
        self.space, self.rng = space, rng

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        space = self.space
        if not isinstance(space, gym.spaces.Box):
            return np.array([space.sample() for _ in range(len(obs))])
        return self.rng.uniform(space.low, space.high, (len(obs), *space.shape)).astype(space.dtype)


def _as_batch_policy(spec: Any, space: gym.Space, rng: np.random.Generator) -> BatchPolicy:
    if isinstance(spec, str):
        if spec == "zero":
            return ZeroPolicy(space)
        if spec == "random":
            return RandomPolicy(space, rng)
        raise ValueError(f"unknown opponent {spec!r}; allowed: 'zero', 'random', or a policy")
    if callable(spec):
        return spec
    raise TypeError(f"an opponent must be 'zero', 'random' or callable, got {type(spec).__name__}")


def _check_agents(env: ParallelEnv, agent: str, opponents: Mapping[str, Any]) -> list[str]:
    agents = list(env.possible_agents)
    if agent not in agents:
        raise ValueError(f"unknown agent {agent!r}; the env's agents are {agents}")
    others = [a for a in agents if a != agent]
    if sorted(opponents) != sorted(others):
        raise ValueError(
            f"opponents are given for {sorted(opponents)}; {agent!r} plays against {sorted(others)}"
        )
    return others


class AgentView(gym.Env):
    """A Gymnasium env in which ``agent`` plays and every other agent follows a fixed policy.

    Example:
        >>> from advrl.envs.forces import ForceAdversaryEnv
        >>> env = AgentView(ForceAdversaryEnv("InvertedPendulum-v5"), "protagonist",
        ...                 {"adversary": "random"})
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape
        (4,)
    """

    def __init__(self, env: ParallelEnv, agent: str, opponents: Mapping[str, Any]) -> None:
        self.parallel_env, self.agent = env, agent
        self.others = _check_agents(env, agent, opponents)
        self.observation_space = env.observation_space(agent)
        self.action_space = env.action_space(agent)
        self.metadata = dict(getattr(env, "metadata", {}))
        self.render_mode = getattr(env, "render_mode", None)
        self._opponent_specs = dict(opponents)
        self._opponent_rng = np.random.default_rng()
        self._policies = {
            a: _as_batch_policy(opponents[a], env.action_space(a), self._opponent_rng)
            for a in self.others
        }
        self._last_obs: dict[str, Any] = {}

    @property
    def opponents(self) -> dict[str, Any]:
        return dict(self._opponent_specs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:  # the opponents' randomness is seeded with the env
            self._opponent_rng.bit_generator.state = np.random.default_rng(
                np.random.SeedSequence([seed, 0x0990])
            ).bit_generator.state
        obs, infos = self.parallel_env.reset(seed=seed, options=options)
        self._last_obs = obs
        return obs[self.agent], infos[self.agent]

    def step(self, action: Any):
        actions = {self.agent: action}
        for other in self.others:
            actions[other] = self._policies[other](self._last_obs[other][None])[0]
        obs, rewards, terms, truncs, infos = self.parallel_env.step(actions)
        self._last_obs = obs
        a = self.agent
        return obs[a], rewards[a], terms[a], truncs[a], infos[a]

    def render(self):
        return self.parallel_env.render()

    def close(self) -> None:
        self.parallel_env.close()


class VecAgentView(VecEnv):
    """SB3 VecEnv over ``n`` copies of a ParallelEnv, seen by ``agent``, with each opponent
    called once per step on the stacked observations of all copies.

    Auto-resets like SB3's ``DummyVecEnv`` (the final observation goes to
    ``info["terminal_observation"]``).
    """

    def __init__(
        self,
        env_fns: list[Callable[[], ParallelEnv]],
        agent: str,
        opponents: Mapping[str, Any],
    ) -> None:
        self.envs = [fn() for fn in env_fns]
        first = self.envs[0]
        self.agent = agent
        self.others = _check_agents(first, agent, opponents)
        super().__init__(len(self.envs), first.observation_space(agent), first.action_space(agent))
        self._opponent_rng = np.random.default_rng()
        self._policies = {
            a: _as_batch_policy(opponents[a], first.action_space(a), self._opponent_rng)
            for a in self.others
        }
        self._obs: list[dict[str, np.ndarray]] = [{} for _ in self.envs]
        self._actions: np.ndarray | None = None
        self._seeds: list[int | None] = [None] * self.num_envs

    def _batch(self, agent: str) -> np.ndarray:
        return np.stack([o[agent] for o in self._obs])

    def reset(self) -> np.ndarray:
        for i, env in enumerate(self.envs):
            self._obs[i], _ = env.reset(seed=self._seeds[i])
        if self._seeds[0] is not None:
            self._opponent_rng.bit_generator.state = np.random.default_rng(
                np.random.SeedSequence([self._seeds[0], 0x0990])
            ).bit_generator.state
        self._seeds = [None] * self.num_envs
        return self._batch(self.agent)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        opponent_actions = {a: self._policies[a](self._batch(a)) for a in self.others}
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict] = []
        for i, env in enumerate(self.envs):
            actions = {self.agent: self._actions[i]}
            actions.update({a: opponent_actions[a][i] for a in self.others})
            obs, rew, terms, truncs, info = env.step(actions)
            info = dict(info[self.agent])
            rewards[i] = rew[self.agent]
            done = terms[self.agent] or truncs[self.agent]
            dones[i] = done
            if done:
                info["TimeLimit.truncated"] = truncs[self.agent] and not terms[self.agent]
                info["terminal_observation"] = obs[self.agent]
                obs, _ = env.reset()
            self._obs[i] = obs
            infos.append(info)
        return self._batch(self.agent), rewards, dones, infos

    def seed(self, seed: int | None = None):
        self._seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        return self._seeds

    def close(self) -> None:
        for env in self.envs:
            env.close()

    # The VecEnv attribute/method plumbing SB3 expects, over the ParallelEnvs.
    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list[Any]:
        return [
            getattr(self.envs[i], method_name)(*args, **kwargs) for i in self._get_indices(indices)
        ]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
