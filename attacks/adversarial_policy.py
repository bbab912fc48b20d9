"""Adversarial policies (Gleave et al. 2020): an opponent trained to beat a frozen victim,
with Liu et al.'s partial control as a budget.

Liu et al. ("Rethinking Adversarial Policies: A Generalized Attack Formulation and Provable
Defense in RL") let the attacker control the victim's opponent only in part: the opponent
follows its own, normally trained policy, and the attacker's policy replaces it with
probability ``budget`` at each step (``mode="mixture"``: the played policy is
``(1 - budget) * normal + budget * attacker``). This is our reading of their formulation:
their repository (``xiangyu-liu/Rethinking-Adversarial-Policies-in-RL``) holds only a README,
so there was no code to match; their stealthiness regulariser on the state distribution shift
is not implemented. ``budget = 1`` is Gleave et al.'s
attack, which controls the opponent completely; ``budget = 0`` is no attack.
``mode="interpolate"`` instead plays the convex combination of the two actions each step.

- :class:`PartialControl`: the game as a PettingZoo parallel env in which one player's
  action is the attacker's only within the budget (``info["attacker_acts"]`` says when).
- :class:`VecPartialControl`: the same on the attacker's SB3 VecEnv, batched.
- :func:`adversary_env`: the attacker's SB3 VecEnv against a frozen victim.
- :func:`play_matches`: win, loss and draw counts of two policies with Wilson 95% intervals
  and each side's mean shaping reward (the game's own measure of how well it plays).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper
from scipy.stats import binomtest
from stable_baselines3.common.vec_env import VecEnvWrapper

MODES = ("mixture", "interpolate")
BatchPolicy = Callable[[np.ndarray], np.ndarray]


def check_budget(budget: Any) -> float:
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not (math.isfinite(budget) and 0.0 <= budget <= 1.0)
    ):
        raise ValueError(f"budget must be a number in [0, 1] (the share of steps the attacker "
                         f"controls), got {budget!r}")  # fmt: skip
    return float(budget)


class PartialControl(BaseParallelWrapper):
    """``agent`` plays the attacker's action with probability ``budget``, else ``normal``'s.

    Args:
        env: a two-player game (:mod:`advrl.envs.competitive`).
        agent: the player the attacker (partly) controls.
        normal: the player's normal policy, batched (``(n, *obs) -> (n, *act)``).
        budget: in [0, 1], see the module docstring.
        mode: ``"mixture"`` (Liu et al.) or ``"interpolate"``.

    Example:
        >>> from advrl.envs.competitive import Sumo
        >>> from pettingzoo.test import parallel_api_test
        >>> still = lambda obs: np.zeros((len(obs), 4))
        >>> env = PartialControl(Sumo(max_cycles=20), "player_1", still, budget=0.5)
        >>> parallel_api_test(env, num_cycles=30)
        Passed Parallel API test
    """

    def __init__(
        self,
        env,
        agent: str,
        normal: BatchPolicy,
        budget: float = 1.0,
        mode: str = "mixture",
    ) -> None:
        super().__init__(env)
        if agent not in env.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; the game's players are "
                             f"{list(env.possible_agents)}")  # fmt: skip
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; allowed: {list(MODES)}")
        if not callable(normal):
            raise TypeError(f"normal must be a batched policy (callable), got {normal!r}")
        self.agent, self.normal, self.mode = agent, normal, mode
        self.budget = check_budget(budget)
        self.rng = np.random.default_rng()
        self._obs: dict[str, np.ndarray] = {}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:  # the coin flips are seeded with the game
            self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA77AC]))
        obs, infos = self.env.reset(seed=seed, options=options)
        self._obs = obs
        return obs, infos

    def step(self, actions: dict[str, Any]):
        actions = dict(actions)
        attacker = np.asarray(actions[self.agent], dtype=np.float64)
        normal = np.asarray(self.normal(self._obs[self.agent][None])[0], dtype=np.float64)
        if self.mode == "mixture":
            acts = bool(self.rng.random() < self.budget)
            actions[self.agent] = attacker if acts else normal
            share = float(acts)
        else:
            actions[self.agent] = (1 - self.budget) * normal + self.budget * attacker
            share = self.budget
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        self._obs = obs
        infos = {a: dict(i) for a, i in infos.items()}
        infos[self.agent]["attacker_acts"] = share
        return obs, rewards, terms, truncs, infos

    def __getattr__(self, name: str):
        # BaseParallelWrapper forwards only some attributes; rules and state of the game too.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.env, name)


@dataclass(frozen=True)
class MatchRecord:
    """Results of ``episodes`` games between two policies, from ``agent``'s side."""

    agent: str
    episodes: int
    wins: int
    losses: int
    draws: int
    shaping: dict[str, float]
    """Mean episode shaping reward per player (the game's own, dense measure of play)."""

    @property
    def win_rate(self) -> float:
        return self.wins / self.episodes

    def win_interval(self) -> tuple[float, float]:
        """Wilson 95% interval of the win rate."""
        ci = binomtest(self.wins, self.episodes).proportion_ci(0.95, method="wilson")
        return float(ci.low), float(ci.high)

    def loss_interval(self) -> tuple[float, float]:
        """Wilson 95% interval of the loss rate."""
        ci = binomtest(self.losses, self.episodes).proportion_ci(0.95, method="wilson")
        return float(ci.low), float(ci.high)


def play_matches(
    game_fn: Callable[[], Any],
    policies: Mapping[str, BatchPolicy],
    agent: str,
    episodes: int,
    seed: int = 0,
    n_envs: int = 8,
) -> MatchRecord:
    """Play ``episodes`` games (``n_envs`` at a time, each policy called once per step on
    all of them) and count ``agent``'s wins, losses and draws.

    Args:
        game_fn: makes the game (a :class:`PartialControl` game for an attacked opponent).
        policies: a batched policy per player.
        agent: whose results to count.
        episodes: games in all; game ``k`` is reset with seed ``seed + k``.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an int >= 1, got {episodes!r}")
    envs = [game_fn() for _ in range(min(n_envs, episodes))]
    players = list(envs[0].possible_agents)
    if sorted(policies) != sorted(players) or agent not in players:
        raise ValueError(f"need a policy for each of {players} and agent among them; got "
                         f"policies for {sorted(policies)} and agent {agent!r}")  # fmt: skip
    outcome = {"win": 0, "loss": 0, "draw": 0}
    shaping = dict.fromkeys(players, 0.0)
    started = 0
    while started < episodes:
        batch = envs[: min(len(envs), episodes - started)]
        obs = [env.reset(seed=seed + started + k)[0] for k, env in enumerate(batch)]
        started += len(batch)
        live = list(range(len(batch)))
        while live:
            acts = {p: policies[p](np.stack([obs[k][p] for k in live])) for p in players}
            for j, k in enumerate(list(live)):
                obs[k], _, _, _, infos = batch[k].step({p: acts[p][j] for p in players})
                for p in players:
                    shaping[p] += infos[p]["reward_shaping"]
                if not batch[k].agents:
                    winner = infos[agent]["winner"]
                    outcome["draw" if winner is None else "win" if winner == agent else "loss"] += 1
                    live.remove(k)
    return MatchRecord(agent, episodes, outcome["win"], outcome["loss"], outcome["draw"],
                       {p: s / episodes for p, s in shaping.items()})  # fmt: skip


def sb3_batch_policy(model, deterministic: bool = False) -> BatchPolicy:
    """A batched policy from an SB3 model (an :class:`~advrl.envs.agent_view.Opponent`)."""
    from advrl.envs.agent_view import Opponent

    return Opponent(model, deterministic=deterministic)


def check_victim_fits(victim_model, game, agent: str) -> None:
    """The victim's spaces must be the player's: a victim trained for another game or side
    is refused before any training."""
    obs_space, act_space = game.observation_space(agent), game.action_space(agent)
    v_obs, v_act = victim_model.observation_space, victim_model.action_space
    if not (isinstance(v_obs, gym.spaces.Box) and v_obs.shape == obs_space.shape
            and v_act.shape == act_space.shape):  # fmt: skip
        raise ValueError(
            f"the victim (observations {v_obs}, actions {v_act}) does not fit player {agent!r} "
            f"of this game (observations {obs_space}, actions {act_space})"
        )


class VecPartialControl(VecEnvWrapper):
    """:class:`PartialControl` for the attacker's own SB3 VecEnv: the actions it is given are
    the attacker's; the executed ones are the attacker's with probability ``budget`` per env
    and step, else ``normal``'s on the same observations, batched over the envs.

    The rollout buffer keeps the attacker's own actions, so PPO learns the attacker's policy
    inside the mixture (Liu et al.'s formulation); ``info["attacker_acts"]`` says what ran.
    """

    def __init__(self, venv, normal: BatchPolicy, budget: float, mode: str = "mixture",
                 seed: int | None = None) -> None:  # fmt: skip
        super().__init__(venv)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; allowed: {list(MODES)}")
        self.normal, self.budget, self.mode = normal, check_budget(budget), mode
        self.rng = np.random.default_rng(np.random.SeedSequence([0 if seed is None else seed,
                                                                 0xA77AC]))  # fmt: skip
        self._obs: np.ndarray | None = None
        self._share = np.zeros(self.num_envs)

    def reset(self):
        self._obs = self.venv.reset()
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        attacker = np.asarray(actions, dtype=np.float64)
        if self.budget == 1.0:  # Gleave et al.: the normal policy never plays
            executed, self._share = attacker, np.ones(self.num_envs)
        else:
            normal = np.asarray(self.normal(self._obs), dtype=np.float64)
            if self.mode == "mixture":
                acts = self.rng.random(self.num_envs) < self.budget
                executed = np.where(acts[:, None], attacker, normal)
                self._share = acts.astype(float)
            else:
                executed = (1 - self.budget) * normal + self.budget * attacker
                self._share = np.full(self.num_envs, self.budget)
        self.venv.step_async(executed)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        self._obs = obs  # after an auto-reset: the new episode's first observation
        for info, share in zip(infos, self._share, strict=True):
            info["attacker_acts"] = float(share)
        return obs, rewards, dones, infos


def adversary_env(
    game: str,
    victim,
    victim_agent: str,
    normal=None,
    budget: float = 1.0,
    mode: str = "mixture",
    n_envs: int = 8,
    seed: int = 0,
    game_kwargs: dict[str, Any] | None = None,
):
    """The attacker's SB3 VecEnv: it plays the victim's opponent, within ``budget``, against
    the frozen ``victim`` (an SB3 model, sampled actions).

    Args:
        game: a game of :data:`advrl.envs.competitive.GAMES`.
        victim: the victim's SB3 model.
        victim_agent: the player the victim plays.
        normal: the opponent's normal SB3 model (needed when ``budget < 1``); its actions
            are played whenever the attacker is not in control.
        budget, mode: see :class:`PartialControl`.

    Raises:
        ValueError: unknown game or player, a budget outside [0, 1], a victim that does not
            fit the player, or ``budget < 1`` without a normal policy; all before any env
            steps.
    """
    import functools

    from stable_baselines3.common.vec_env import VecMonitor

    from advrl.envs.agent_view import VecAgentView
    from advrl.envs.competitive import make_game

    budget, game_kwargs = check_budget(budget), dict(game_kwargs or {})
    probe = make_game(game, **game_kwargs)
    if victim_agent not in probe.possible_agents:
        raise ValueError(f"unknown victim agent {victim_agent!r}; the players of {game!r} are "
                         f"{list(probe.possible_agents)}")  # fmt: skip
    attacker = next(a for a in probe.possible_agents if a != victim_agent)
    check_victim_fits(victim, probe, victim_agent)
    if normal is None:
        if budget < 1.0:
            raise ValueError(f"budget {budget} < 1 needs the opponent's normal policy "
                             "(normal=...): it plays whenever the attacker does not")  # fmt: skip
        normal_policy: BatchPolicy = _Zero(probe.action_space(attacker).shape)
    else:
        check_victim_fits(normal, probe, attacker)
        normal_policy = sb3_batch_policy(normal)
    factory = functools.partial(make_game, game, **game_kwargs)
    venv = VecAgentView([factory] * n_envs, attacker, {victim_agent: sb3_batch_policy(victim)})
    venv.seed(seed)
    # The attacker sees what the opponent's seat sees, so the normal policy runs on the same
    # batch of observations: one forward pass for all envs (PartialControl, per env, would
    # take one per env and step).
    return VecMonitor(VecPartialControl(venv, normal_policy, budget, mode, seed=seed))


class _Zero:
    """The normal policy at budget 1, which never plays (a class: envs must pickle)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.zeros((len(obs), *self.shape))


def train_adversarial_policy(
    game: str,
    victim,
    victim_agent: str,
    steps: int,
    *,
    normal=None,
    budget: float = 1.0,
    mode: str = "mixture",
    n_envs: int = 8,
    ppo_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    device: str = "cpu",
    game_kwargs: dict[str, Any] | None = None,
):
    """Train an SB3 PPO adversary against the frozen victim (see :func:`adversary_env`).

    Example:
        >>> from stable_baselines3 import PPO
        >>> from advrl.envs.competitive import player_view
        >>> victim = PPO("MlpPolicy", player_view("sumo"), policy_kwargs=dict(net_arch=[8]))
        >>> adversary = train_adversarial_policy("sumo", victim, "player_0", 64, n_envs=2,
        ...     ppo_kwargs=dict(n_steps=32, batch_size=32, n_epochs=1,
        ...                     policy_kwargs=dict(net_arch=[8])))
        >>> adversary.num_timesteps
        64
    """
    from stable_baselines3 import PPO

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    venv = adversary_env(game, victim, victim_agent, normal, budget, mode, n_envs, seed,
                         game_kwargs)  # fmt: skip
    model = PPO("MlpPolicy", venv, seed=seed, device=device, **(ppo_kwargs or {}))
    return model.learn(steps)
