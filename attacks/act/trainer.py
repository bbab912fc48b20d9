"""The ACT loop on the batched CartPole: OpenAI-ES over a message adversary whose fitness is
the outcome of training a fresh PPO victim that hears it (Lu et al., ICML 2023, section 4).

Modes:
    anti: fitness = - victim's final (greedy) return; the adversary sabotages learning.
    pro: fitness = + victim's mean return over training (the area under its learning curve):
        the adversary speeds learning. The final greedy return of 8 episodes is a much
        noisier signal for pro (it saturates at 500 and is bimodal); with it, 20 generations
        of ES did not move the victim (BENCHMARKS.md). ``fitness_on`` overrides either.
    control: the ES vector holds a train-time adversary and a test-time exploiter
        ``(obs, goal) -> message``; after the victim trains with the first, the frozen victim
        is steered by the second towards a random cart position ``goal`` with per-step reward
        ``exp(-(x - goal)^2)`` (paper section 5.3), the fitness being its mean.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole
from advrl.attacks.act.es import OpenAIES
from advrl.attacks.act.population import MessageFn, PopulationPPO, PPOConfig, StackedMLP
from advrl.attacks.act.population import mlp_num_params as _n
from advrl.progress import progress

MODES = ("anti", "pro", "control")
OBS_DIM = BatchedCartPole.obs_dim


@dataclass
class ACTConfig:
    """ACT on CartPole: ES settings, adversary shape, victim PPO settings."""

    mode: str = "anti"
    """anti | pro | control"""
    popsize: int = 32
    """ES population (even, >= 2): victims trained per generation"""
    generations: int = 20
    sigma: float = 0.1
    lr: float = 0.03
    """Adam step size of the ES"""
    shaping: str = "centered_rank"
    dims: int = 2
    scale: float = 2 * math.pi
    hidden: tuple[int, ...] = (32,)
    """adversary (and exploiter) hidden sizes"""
    n_updates: int = 16
    """victim PPO updates per fitness evaluation"""
    eval_envs: int = 8
    """greedy evaluation episodes per victim"""
    control_steps: int = 200
    success_radius: float = 0.3
    """control success: pole up for control_steps and final ``|x - goal|`` below this"""
    fitness_on: str | None = None
    """anti / pro fitness from the victim's "final" greedy return or its mean "training" return
    (learning speed); default: final for anti, training for pro (see the module docstring)"""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        p = self.popsize
        if isinstance(p, bool) or not isinstance(p, int) or p < 2 or p % 2:
            raise ValueError(f"population must be an even integer >= 2, got {p!r}")
        if self.fitness_on is None:
            self.fitness_on = "training" if self.mode == "pro" else "final"
        if self.fitness_on not in ("final", "training"):
            raise ValueError(f"fitness_on must be 'final' or 'training', got {self.fitness_on!r}")
        if isinstance(self.dims, bool) or not isinstance(self.dims, int) or self.dims <= 0:
            raise ValueError(f"message dims must be an integer > 0, got {self.dims!r}")

    @property
    def adversary_sizes(self) -> list[int]:
        return [OBS_DIM, *self.hidden, self.dims]

    @property
    def exploiter_sizes(self) -> list[int]:
        return [OBS_DIM + 1, *self.hidden, self.dims]

    @property
    def num_params(self) -> int:
        n = _n(self.adversary_sizes)
        return n + _n(self.exploiter_sizes) if self.mode == "control" else n


def adversary_messages(flat: th.Tensor, sizes: list[int], scale: float) -> MessageFn:
    """Member ``p`` hears ``scale * tanh(f_p(obs))``, ``f_p`` the MLP of ``flat[p]``
    (``flat``: ``(P, n)``; a ``(n,)`` vector is shared by every member)."""
    net: dict[int, StackedMLP] = {}

    def fn(obs: th.Tensor) -> th.Tensor:
        P = obs.shape[0]
        if P not in net:
            f = flat if flat.ndim == 2 else flat[None].expand(P, -1)
            net[P] = StackedMLP.from_flat(f.to(obs.device), sizes)
        return scale * th.tanh(net[P](obs.float()))

    return fn


def random_messages(dims: int, scale: float, seed: int) -> MessageFn:
    """I.i.d. ``scale * tanh(N(0, 1))`` messages, fresh each step (the random baseline)."""
    gen = th.Generator().manual_seed(seed)
    return lambda obs: scale * th.tanh(th.randn(*obs.shape[:-1], dims, generator=gen)).to(obs)


def no_messages(dims: int) -> MessageFn:
    """All-zero messages: the no-message baseline (zero inputs leave the victim untouched)."""
    return lambda obs: obs.new_zeros(*obs.shape[:-1], dims)


def train_victims(
    message_fn: MessageFn, n_members: int, config: ACTConfig, seed: int, shared_init: bool = False
) -> tuple[PopulationPPO, th.Tensor]:
    """Train ``n_members`` fresh victims hearing ``message_fn``; returns them and their
    learning curves ``(n_members, n_updates)``."""
    ppo = PopulationPPO(
        n_members, OBS_DIM + config.dims, 2, config.ppo, seed, config.device, shared_init
    )
    env = BatchedCartPole(n_members * config.ppo.n_envs, seed=seed, device=config.device)
    return ppo, ppo.learn(env, config.n_updates, message_fn)


def control_rollout(
    ppo: PopulationPPO, exploiter: MessageFn, config: ACTConfig, seed: int
) -> dict[str, th.Tensor]:
    """Frozen victims steered by ``exploiter`` (``(P, B, obs_dim + 1) -> (P, B, dims)``, the
    goal as last input) to goals ``U(-1, 1)``; per member: mean per-step reward
    ``exp(-(x - goal)^2)`` (0 once the pole falls) and success rate."""
    P, B = ppo.P, config.eval_envs
    env = BatchedCartPole(P * B, max_episode_steps=10**9, seed=seed)
    gen = th.Generator().manual_seed(seed + 7)
    goal = (th.rand(P, B, 1, generator=gen) * 2 - 1).to(ppo.device)
    state, alive = env.reset(), th.ones(P * B, dtype=th.bool)
    total = th.zeros(P * B)
    for _ in range(config.control_steps):
        s = state.reshape(P, B, -1).to(ppo.device)
        message = exploiter(th.cat([s, goal], -1))
        action = ppo.act(th.cat([s, message], -1), deterministic=True).reshape(-1).cpu()
        step = env.step(action)
        alive &= ~step.terminated
        x = step.final_obs[:, 0]
        total += th.exp(-((x - goal.reshape(-1).cpu()) ** 2)) * alive
        state = step.obs
    close = (env.state[:, 0].float() - goal.reshape(-1).cpu()).abs() < config.success_radius
    return {
        "control_reward": (total / config.control_steps).reshape(P, B).mean(1),
        "success": (alive & close).float().reshape(P, B).mean(1),
    }


def fitness(candidates: th.Tensor, config: ACTConfig, seed: int) -> dict[str, th.Tensor]:
    """Train one fresh victim per candidate adversary (``(P, n)``) and score it."""
    n_adv = _n(config.adversary_sizes)
    train_fn = adversary_messages(candidates[:, :n_adv], config.adversary_sizes, config.scale)
    # one victim init per generation shared by all candidates (common random numbers)
    ppo, curves = train_victims(train_fn, candidates.shape[0], config, seed, shared_init=True)
    returns = ppo.evaluate(train_fn, config.eval_envs, seed=seed + 1)
    out = {"final_return": returns, "curves": curves}
    if config.mode == "control":
        exploit = adversary_messages(candidates[:, n_adv:], config.exploiter_sizes, config.scale)
        out.update(control_rollout(ppo, exploit, config, seed + 2))
        out["fitness"] = out["control_reward"]
    else:
        score = returns if config.fitness_on == "final" else curves.mean(1)
        out["fitness"] = score if config.mode == "pro" else -score
    return out


@dataclass
class ACTResult:
    """The ES mean after training and per-generation statistics."""

    theta: th.Tensor
    config: ACTConfig
    history: list[dict[str, float]]

    @property
    def adversary(self) -> th.Tensor:
        """The train-time adversary's flat parameters (LearnedMessage layout)."""
        return self.theta[: _n(self.config.adversary_sizes)]

    @property
    def exploiter(self) -> th.Tensor:
        return self.theta[_n(self.config.adversary_sizes) :]


def train_act(
    config: ACTConfig,
    callback: Callable[[dict[str, Any]], None] | None = None,
    progress_bar: bool = False,
) -> ACTResult:
    """Run ACT for ``config.generations``; ``callback`` gets each generation's statistics and
    ``progress_bar`` shows a bar over the generations.

    Example:
        >>> from advrl.attacks.act.population import PPOConfig
        >>> cfg = ACTConfig(popsize=2, generations=1, n_updates=1, eval_envs=1,
        ...                 ppo=PPOConfig(n_envs=1, n_steps=8, batch_size=8, hidden=(4,)))
        >>> len(train_act(cfg).history)
        1
    """
    gen = th.Generator().manual_seed(config.seed)
    theta0 = 0.1 * th.randn(config.num_params, generator=gen)
    es = OpenAIES(theta0, config.popsize, config.sigma, config.lr, config.shaping, seed=config.seed)
    history = []
    with progress(progress_bar, config.generations, "ACT", "generation") as bar:
        for g in range(config.generations):
            start = time.perf_counter()
            out = fitness(es.ask(), config, seed=config.seed * 100_003 + g)
            es.tell(out["fitness"])
            stats = {
                "generation": g,
                "fitness_mean": float(out["fitness"].mean()),
                "fitness_max": float(out["fitness"].max()),
                "return_mean": float(out["final_return"].mean()),
                "return_std": float(out["final_return"].std(correction=0)),
                "seconds": time.perf_counter() - start,
            }
            if "success" in out:
                stats["success_mean"] = float(out["success"].mean())
            history.append(stats)
            bar.update(1)
            if callback is not None:
                callback(stats)
    return ACTResult(es.theta.clone(), config, history)
