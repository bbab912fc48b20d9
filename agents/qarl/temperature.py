"""AppendTemperature: a per-episode Gamma temperature in the adversary's observation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from advrl.agents.qarl.curriculum import GammaTemperature


class AppendTemperature(ParallelEnv):
    """Wrap a two-player ParallelEnv: at each reset draw ``alpha ~ Gamma(c, rate)`` and append
    it as the last dimension of ``agent``'s observation (QARL's temperature-conditioned
    adversary). ``info["temperature"]`` carries alpha for every agent.

    The draw comes from the wrapper's own generator, seeded from ``reset(seed=...)``.
    """

    def __init__(
        self, env: ParallelEnv, temperature: GammaTemperature, agent: str = "adversary"
    ) -> None:
        if agent not in env.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; the env's agents are {env.possible_agents}")
        self.env, self.temperature, self.agent = env, temperature, agent
        self.possible_agents = list(env.possible_agents)
        self.agents: list[str] = []
        self.metadata = dict(env.metadata)
        base = env.observation_space(agent)
        self._space = gym.spaces.Box(
            np.append(base.low, 0.0).astype(base.dtype),
            np.append(base.high, np.inf).astype(base.dtype),
            dtype=base.dtype,
        )
        self.rng = np.random.default_rng()
        self.alpha = 0.0

    def observation_space(self, agent: str) -> gym.Space:
        return self._space if agent == self.agent else self.env.observation_space(agent)

    def action_space(self, agent: str) -> gym.Space:
        return self.env.action_space(agent)

    def _augment(self, obs: dict, infos: dict):
        if self.agent in obs:
            obs[self.agent] = np.append(obs[self.agent], self.alpha).astype(self._space.dtype)
        for info in infos.values():
            info["temperature"] = self.alpha
        return obs, infos

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E4]))
        self.alpha = self.temperature.sample(self.rng)
        obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.env.agents)
        return self._augment(obs, infos)

    def step(self, actions: dict):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        self.agents = list(self.env.agents)
        obs, infos = self._augment(obs, infos)
        return obs, rewards, terms, truncs, infos

    def close(self) -> None:
        self.env.close()
