"""Training players of two-player games: self-play from a pool of past selves, and two
learners taking turns (with a timescale ratio between them).

- :class:`SelfPlay`: one SB3 PPO policy for a *symmetric* game (``sumo``) plays against
  snapshots of itself, one drawn uniformly from the latest ``pool_size`` at the start of
  every rollout (Bansal et al. 2018, "Emergent Complexity via Multi-Agent Competition", whose
  victims Gleave et al. attack).
- :class:`TakeTurns`: one learner per player; each phase one of them trains against the
  other, frozen. Victims of an asymmetric game (``you_shall_not_pass``: runner and blocker)
  are trained this way, and so is adversarial training with Liu et al.'s timescale
  separation ("Rethinking Adversarial Policies", as we read it: they published no code): the
  attacker takes ``steps[attacker] / steps[victim]`` times as many env steps per round as the
  victim, so it nearly best-responds before the victim moves.

Both train in :class:`~advrl.envs.agent_view.VecAgentView`, whose opponents are read live
(one batched forward pass per step for all copies).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

from advrl.envs.agent_view import Opponent, VecAgentView
from advrl.envs.competitive import GAMES, make_game


def game_factory(game: str, game_kwargs: Mapping[str, Any] | None = None):
    """A picklable factory of the game (checked once here, before any training)."""
    make_game(game, **dict(game_kwargs or {})).close()
    return functools.partial(make_game, game, **dict(game_kwargs or {}))


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class _DrawFromPool(BaseCallback):
    """After each rollout, add the learner's policy to the pool; before the next, load one
    member, drawn uniformly, into the opponent."""

    def __init__(self, play: SelfPlay) -> None:
        super().__init__()
        self.play = play

    def _on_rollout_start(self) -> None:
        play = self.play
        play.opponent.random = bool(play.rng.random() < play.random_share)
        if not play.opponent.random:
            pick = play.pool[int(play.rng.integers(len(play.pool)))]
            play.opponent_model.policy.load_state_dict(pick)

    def _on_rollout_end(self) -> None:
        self.play.snapshot()

    def _on_step(self) -> bool:
        return True


class PoolOpponent(Opponent):
    """The self-play opponent: the pool member loaded into ``model``, or, while ``random``,
    uniformly random actions (the easy opponent that teaches a beginner to attack)."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.random, self.rng = False, rng

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.random:
            space = self.model.action_space
            return self.rng.uniform(space.low, space.high, (len(obs), *space.shape))
        return super().__call__(obs)


class SelfPlay:
    """PPO self-play on a symmetric two-player game against a pool of past selves.

    Args:
        game: a symmetric game of :data:`advrl.envs.competitive.GAMES` (both players see
            and act in their own frame).
        n_envs: copies of the game.
        pool_size: how many of the latest snapshots (one per rollout) the opponent is drawn
            from; 1 is plain self-play against the previous self.
        random_share: the probability that a rollout is played against a uniformly random
            opponent instead: without it, self-play from scratch settles in a passive draw
            (both keep to the centre) before either learns to push.
        ppo_kwargs: SB3 PPO arguments.
        game_kwargs: the game's arguments (``max_cycles``, ``win_reward``, ...).

    Example:
        >>> play = SelfPlay(n_envs=2, ppo_kwargs=dict(n_steps=32, batch_size=32, n_epochs=1,
        ...                 policy_kwargs=dict(net_arch=[8])))
        >>> play.learn(128).model.num_timesteps, len(play.pool)
        (128, 3)
    """

    def __init__(
        self,
        game: str = "sumo",
        *,
        n_envs: int = 8,
        pool_size: int = 10,
        random_share: float = 0.25,
        ppo_kwargs: dict[str, Any] | None = None,
        game_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if not 0.0 <= random_share <= 1.0:
            raise ValueError(f"random_share must be in [0, 1], got {random_share!r}")
        self.random_share = float(random_share)
        if game not in GAMES or GAMES[game].frames[0] == GAMES[game].frames[1]:
            symmetric = sorted(g for g, c in GAMES.items() if c.frames[0] != c.frames[1])
            raise ValueError(f"self-play needs a symmetric game, got {game!r}; allowed: "
                             f"{symmetric} (train asymmetric games with TakeTurns)")  # fmt: skip
        _check_positive("n_envs", n_envs)
        self.pool_size = _check_positive("pool_size", pool_size)
        factory = game_factory(game, game_kwargs)
        first, second = GAMES[game].possible_agents
        self.rng = np.random.default_rng(seed)
        self.opponent = PoolOpponent(self.rng)
        venv = VecAgentView([factory] * n_envs, first, {second: self.opponent})
        venv.seed(seed)
        self.model = PPO("MlpPolicy", VecMonitor(venv), seed=seed, device=device,
                         **(ppo_kwargs or {}))  # fmt: skip
        # The opponent's network: a copy of the policy whose weights the pool overwrites.
        self.opponent_model = copy.copy(self.model)
        self.opponent_model.policy = copy.deepcopy(self.model.policy)
        self.opponent.model = self.opponent_model
        self.pool: list[dict] = []
        self.snapshot()

    def snapshot(self) -> None:
        """Add the learner's current weights to the pool (dropping the oldest when full)."""
        state = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
        self.pool = [*self.pool, state][-self.pool_size :]

    def learn(self, total_timesteps: int, progress_bar: bool = False) -> SelfPlay:
        self.model.learn(total_timesteps, callback=_DrawFromPool(self),
                         reset_num_timesteps=False, progress_bar=progress_bar)  # fmt: skip
        return self


class TakeTurns:
    """One learner per player of a two-player game; each round, each trains in turn against
    the other, frozen.

    Args:
        game: a game of :data:`advrl.envs.competitive.GAMES`.
        steps: env steps per round for each player (default: one PPO rollout each). A ratio
            between them is Liu et al.'s timescale separation.
        models: SB3 PPO models to start from, per player (e.g. a shipped victim to defend):
            each is copied into a learner with its architecture and the run's ``ppo_kwargs``
            (the given model itself is never trained); the other players start fresh.
        frozen: players that never train (e.g. a victim under attack: only the other learns).
        n_envs, ppo_kwargs, game_kwargs, seed, device: as for :class:`SelfPlay`.

    Example:
        >>> turns = TakeTurns("you_shall_not_pass", n_envs=2, ppo_kwargs=dict(n_steps=32,
        ...                   batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8])))
        >>> {a: m.num_timesteps for a, m in turns.learn(rounds=1).models.items()}
        {'runner': 64, 'blocker': 64}
    """

    def __init__(
        self,
        game: str,
        *,
        steps: Mapping[str, int] | None = None,
        models: Mapping[str, Any] | None = None,
        frozen: tuple[str, ...] = (),
        n_envs: int = 8,
        ppo_kwargs: dict[str, Any] | None = None,
        game_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        factory = game_factory(game, game_kwargs)
        _check_positive("n_envs", n_envs)
        self.agents = list(GAMES[game].possible_agents)
        for name, given in (("steps", steps or {}), ("models", models or {}),
                            ("frozen", dict.fromkeys(frozen))):  # fmt: skip
            unknown = sorted(set(given) - set(self.agents))
            if unknown:
                raise ValueError(f"{name} names {unknown}, not players of {game!r}: "
                                 f"{self.agents}")  # fmt: skip
        if set(frozen) == set(self.agents):
            raise ValueError(f"every player is frozen ({list(frozen)}); nothing would train")
        self.frozen = tuple(frozen)
        self.opponents = {a: Opponent() for a in self.agents}  # the player, as others see it
        self.models: dict[str, Any] = {}
        for i, agent in enumerate(self.agents):
            other = self.agents[1 - i]
            venv = VecAgentView([factory] * n_envs, agent, {other: self.opponents[other]})
            venv.seed(seed + 100_000 * i)
            kwargs, given = dict(ppo_kwargs or {}), (models or {}).get(agent)
            if given is not None:  # its architecture, the run's hyperparameters
                kwargs["policy_kwargs"] = given.policy_kwargs
            self.models[agent] = PPO("MlpPolicy", VecMonitor(venv), seed=seed + i, device=device,
                                     **kwargs)  # fmt: skip
            if given is not None:
                self.models[agent].policy.load_state_dict(given.policy.state_dict())
            self.opponents[agent].model = self.models[agent]
        self.steps = {}
        for agent in self.agents:
            model = self.models[agent]
            default = getattr(model, "n_steps", 1000) * model.n_envs
            self.steps[agent] = _check_positive(f"steps[{agent!r}]",
                                                (steps or {}).get(agent, default))  # fmt: skip

    def learn(self, rounds: int, progress_bar: bool = False) -> TakeTurns:
        """``rounds`` x (each unfrozen player trains for its steps against the other)."""
        _check_positive("rounds", rounds)
        for _ in range(rounds):
            for agent in self.agents:
                if agent not in self.frozen:
                    self.models[agent].learn(self.steps[agent], reset_num_timesteps=False,
                                             progress_bar=progress_bar)  # fmt: skip
        return self
