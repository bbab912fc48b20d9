"""Reward-model overoptimisation: gold (true) vs proxy return as optimisation against a
learned reward proceeds, for a single reward model and for mean / WCO / UWO ensembles
(Gao et al. 2023; Coste et al. 2024).

Protocol per (task, seed): roll out the initial policy (uniform random actions), cut the
episodes into segments, label random pairs of them with the task's true reward and flip 25%
of the labels; train a 5-member ensemble on those preferences (members differ by seed and
data order; each normalised to mean 0, std 1 on the training transitions); the single RM is
member 0. Then optimise against each served reward:

- ``ppo``: SB3 PPO on :class:`~advrl.envs.learned_reward.VecLearnedReward`; gold and proxy
  returns of the training episodes, over training steps.
- ``bon``: best-of-n over episodes of the initial policy: from a pool of N episodes, the
  expected gold (and proxy) return of the episode that the served reward ranks highest
  among n drawn without replacement (the exact order-statistics estimator over the pool),
  against n and ``KL_bon = log n - (n - 1) / n`` (Gao et al. 2023, Sec. 2). An episode's
  proxy return is the sum of its per-step aggregated rewards, as PPO sees them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key

SERVED = ("single", "mean", "wco", "uwo")
METHODS = ("ppo", "bon")
UWO_LAMBDA = {"ppo": 0.1, "bon": 0.5}  # Coste et al. 2024's best values (PAPERS.md)


@dataclass(frozen=True)
class Task:
    """How one task is set up: preference data, reward-net inputs, PPO, best-of-n."""

    segment_length: int
    inputs: tuple[str, ...]
    ppo_steps: int
    ppo: dict
    normalize_obs: bool
    bon_episodes: int
    bon_horizon: int


TASKS: dict[str, Task] = {
    # The tomato true reward depends only on the state reached (watered tomatoes).
    "advrl/Tomato-v0": Task(10, ("next_obs",), 100_000, dict(
        n_steps=256, batch_size=256, learning_rate=1e-3, gamma=0.98, ent_coef=0.01,
        policy_kwargs=dict(net_arch=[64, 64])), False, 2000, 100),
    "HalfCheetah-v5": Task(25, ("obs", "action", "next_obs"), 200_000, dict(
        n_steps=512, batch_size=256, learning_rate=3e-4, gamma=0.99, gae_lambda=0.95,
        policy_kwargs=dict(net_arch=[64, 64])), True, 500, 200),
}  # fmt: skip


@dataclass(frozen=True)
class OveroptCell:
    """Learn reward models from noisy synthetic preferences, then optimise against them.

    ``method="ppo"`` serves one reward (``served``: single, mean, wco or uwo);
    ``method="bon"`` evaluates all four on one pool (``served="all"``).
    ``steps`` / ``episodes`` = 0 take the task's default; ``uwo_lambda=None`` takes
    Coste et al.'s best value for the method (:data:`UWO_LAMBDA`).
    """

    task: str
    method: str
    served: str
    seed: int = 0
    steps: int = 0
    episodes: int = 0
    noise: float = 0.25
    members: int = 5
    n_segments: int = 1000
    n_pairs: int = 2000
    rm_epochs: int = 10
    n_envs: int = 8
    uwo_lambda: float | None = None

    kind: ClassVar[str] = "overoptimization"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; allowed: {sorted(TASKS)}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; allowed: {list(METHODS)}")
        allowed = SERVED if self.method == "ppo" else ("all",)
        if self.served not in allowed:
            raise ValueError(f"served must be one of {list(allowed)} for {self.method}, "
                             f"got {self.served!r}")  # fmt: skip
        if self.uwo_lambda is not None and not (
            math.isfinite(self.uwo_lambda) and self.uwo_lambda >= 0
        ):
            raise ValueError(f"uwo_lambda must be a finite number >= 0, got {self.uwo_lambda!r}")
        if not 0 <= self.noise <= 0.5 or self.members < 2:
            raise ValueError(f"need noise in [0, 0.5] and members >= 2, got {self.noise}, "
                             f"{self.members}")  # fmt: skip
        if self.n_pairs < 2 or self.n_segments < 2:  # one pair to train on, one held out
            raise ValueError(f"need n_pairs >= 2 and n_segments >= 2, got {self.n_pairs}, "
                             f"{self.n_segments}")  # fmt: skip
        if self.steps < 0 or self.episodes < 0:
            raise ValueError(f"steps and episodes must be >= 0 (0: the task's default), got "
                             f"{self.steps}, {self.episodes}")  # fmt: skip

    @property
    def label(self) -> str:
        return f"{self.task} {self.method} {self.served} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        config = {"kind": self.kind, **asdict(self)}
        if self.uwo_lambda is None:  # keeps the keys of runs stored before the field existed
            del config["uwo_lambda"]
        return config

    @property
    def key(self) -> str:
        name = self.task.split("/")[-1]
        return config_key(f"overopt-{name}-{self.method}-{self.served}-s{self.seed}",
                          self.to_dict())  # fmt: skip

    def run(self) -> dict[str, Any]:
        ensemble, reports = learn_reward_models(self)
        rm = {
            "rm_held_out_accuracy": float(np.mean([r.held_out_accuracy for r in reports])),
            "rm_held_out_clean_accuracy": float(
                np.mean([r.held_out_clean_accuracy for r in reports])
            ),
        }
        if self.method == "ppo":
            served = served_model(ensemble, self.served, "ppo", self.uwo_lambda)
            return {**rm, **_run_ppo(self, served)}
        return {**rm, **_run_bon(self, ensemble)}


def learn_reward_models(cell: OveroptCell):
    """The ensemble (aggregation "mean") and its members' training reports for a cell."""
    import gymnasium as gym

    from advrl.agents.reward_models import (
        rollout_segments,
        synthetic_preferences,
        train_ensemble,
    )

    task = TASKS[cell.task]
    env = gym.make(cell.task)
    segments = rollout_segments(env, cell.n_segments, task.segment_length, seed=cell.seed)
    data = synthetic_preferences(segments, cell.n_pairs, noise=cell.noise, seed=cell.seed)
    return train_ensemble(
        env.observation_space, env.action_space, data, n_members=cell.members, seed=cell.seed,
        epochs=cell.rm_epochs, net_kwargs={"hidden": (64, 64), "inputs": task.inputs},
        lr=1e-3, batch_size=64,
    )  # fmt: skip


def served_model(ensemble, served: str, method: str, uwo_lambda: float | None = None):
    """The reward a cell optimises: member 0 alone, or the ensemble under an aggregation."""
    if served == "single":
        return ensemble.members[0]
    lam = UWO_LAMBDA[method] if uwo_lambda is None else uwo_lambda
    return ensemble.with_aggregation(served, lam if served == "uwo" else 0.0)


def served_label(served: str, uwo_lambda: float | None) -> str:
    """``"uwo (lambda 2)"`` for UWO at a non-default lambda, else the served name."""
    return f"uwo (lambda {uwo_lambda:g})" if served == "uwo" and uwo_lambda is not None else served


def _run_ppo(cell: OveroptCell, model) -> dict[str, Any]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from advrl.envs.learned_reward import VecLearnedReward
    from advrl.envs.proxy import LogTrueAndProxyReturns

    task = TASKS[cell.task]
    steps = cell.steps or task.ppo_steps
    venv = VecLearnedReward(make_vec_env(cell.task, cell.n_envs, seed=cell.seed), model)
    if task.normalize_obs:  # outside the reward: the reward model sees raw observations
        venv = VecNormalize(venv, norm_obs=True, norm_reward=False)
    ppo = PPO("MlpPolicy", venv, seed=cell.seed, device="cpu", **task.ppo)
    callback = LogTrueAndProxyReturns()
    ppo.learn(steps, callback=callback)
    episodes = np.asarray(callback.episodes)  # (episodes, 2): gold, proxy
    if len(episodes) == 0:
        raise ValueError(f"{steps} PPO steps finished no episode; give more steps")
    curve, spread, seen = [], [], 0
    per_episode = steps / len(episodes)
    for chunk in np.array_split(episodes, min(20, len(episodes))):
        seen += len(chunk)
        curve.append([seen * per_episode, *chunk.mean(axis=0).tolist()])
        spread.append(chunk.std(axis=0).tolist())  # over the episodes behind the point
    gold = np.array([c[1] for c in curve])
    return {
        "mean_return": float(gold[-1]),
        "peak_gold": float(gold.max()),
        "final_gold": float(gold[-1]),
        "final_proxy": float(curve[-1][2]),
        "gold_drop": float(gold.max() - gold[-1]),
        "curve": curve,
        "curve_std": spread,
        "episodes": len(episodes),
    }


def best_of_n(proxy: np.ndarray, gold: np.ndarray, n: int) -> tuple[float, float]:
    """Expected (gold, proxy) of the proxy-best of ``n`` episodes drawn without replacement
    from the pool, exactly: with the pool sorted by proxy, the j-th smallest (1-based) is the
    best of a random n-subset with probability C(j - 1, n - 1) / C(N, n).

    Example:
        >>> best_of_n(np.array([0.0, 1.0, 2.0]), np.array([5.0, 6.0, 7.0]), 3)
        (7.0, 2.0)
    """
    proxy, gold = np.asarray(proxy, float), np.asarray(gold, float)
    size = len(proxy)
    if not 1 <= n <= size or gold.shape != proxy.shape:
        raise ValueError(f"need 1 <= n <= pool size {size} and matching shapes, got n={n}")
    order = np.argsort(proxy, kind="stable")
    j = np.arange(1, size + 1)
    log_w = np.full(size, -np.inf)
    ok = j >= n
    lg = np.vectorize(math.lgamma)
    log_w[ok] = (lg(j[ok]) - lg(n) - lg(j[ok] - n + 1)) - (
        math.lgamma(size + 1) - math.lgamma(n + 1) - math.lgamma(size - n + 1)
    )
    w = np.exp(log_w)
    return float(w @ gold[order]), float(w @ proxy[order])


def _run_bon(cell: OveroptCell, ensemble) -> dict[str, Any]:
    import gymnasium as gym
    import torch as th

    task = TASKS[cell.task]
    n_episodes = cell.episodes or task.bon_episodes
    env = gym.make(cell.task, max_episode_steps=task.bon_horizon)
    env.action_space.seed(cell.seed + 777)
    transitions: dict[str, list] = {"obs": [], "act": [], "next": []}
    gold, lengths = np.zeros(n_episodes), []
    for ep in range(n_episodes):
        obs, _ = env.reset(seed=10_000 + cell.seed * 100_003 + ep)
        done, steps = False, 0
        while not done:
            action = env.action_space.sample()
            nxt, reward, term, trunc, info = env.step(action)
            gold[ep] += info.get("reward_true", reward)
            for k, v in zip(transitions, (obs, action, nxt), strict=True):
                transitions[k].append(np.asarray(v, np.float32))
            obs, done, steps = nxt, term or trunc, steps + 1
        lengths.append(steps)
    tensors = [th.as_tensor(np.stack(v)) for v in transitions.values()]
    episode_of = np.repeat(np.arange(n_episodes), lengths)
    ns = sorted({int(2**k) for k in range(int(math.log2(n_episodes)) + 1)} | {n_episodes})
    curves = {}
    for served in SERVED:
        model = served_model(ensemble, served, "bon", cell.uwo_lambda)
        with th.no_grad():
            per_step = model(*tensors).numpy()
        proxy = np.bincount(episode_of, weights=per_step, minlength=n_episodes)
        points = [best_of_n(proxy, gold, n) for n in ns]
        curves[served] = {"gold": [p[0] for p in points], "proxy": [p[1] for p in points]}
    kl = [math.log(n) - (n - 1) / n for n in ns]
    return {"mean_return": curves["single"]["gold"][-1], "n": ns, "kl": kl, "curves": curves,
            "pool_mean_gold": float(gold.mean())}  # fmt: skip


def overoptimization_suite(
    tasks: list[str], methods: list[str], seeds: list[int], ppo_steps: int = 0,
    bon_episodes: int = 0, noise: float = 0.25, members: int = 5, pairs: int = 2000,
    uwo_lambda: float | None = None,
) -> list[OveroptCell]:  # fmt: skip
    """PPO against each served reward, and one best-of-n cell, per task and seed.

    ``uwo_lambda`` (None: the method's default) applies to the UWO cells and best-of-n."""
    cells = []
    for task in tasks:
        for seed in seeds:
            common = dict(seed=seed, noise=noise, members=members, n_pairs=pairs)
            if "ppo" in methods:
                cells += [
                    OveroptCell(task, "ppo", s, steps=ppo_steps,
                                uwo_lambda=uwo_lambda if s == "uwo" else None, **common)
                    for s in SERVED
                ]  # fmt: skip
            if "bon" in methods:
                cells.append(OveroptCell(task, "bon", "all", episodes=bon_episodes,
                                         uwo_lambda=uwo_lambda, **common))  # fmt: skip
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; allowed: {list(METHODS)}")
    return cells


REPORT = ("write_overoptimization_report", "overoptimization_figure")


def __getattr__(name: str):
    # The report lives in its own module (it imports this one); re-exported lazily.
    if name in REPORT:
        from advrl.bench import overoptimization_report

        return getattr(overoptimization_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
