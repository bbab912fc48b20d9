"""Do EPIC / STARC distances to the true reward predict the regret of the policy each learned
reward leads to, and better than held-out preference accuracy? (Gleave et al. 2021; Skalse
et al. 2024; issue 17.) ``advrl bench reward-distances``; the report is
:mod:`advrl.bench.reward_distances_report`.

A cell is one ensemble: the overoptimisation benchmark's own reward models
(:func:`advrl.bench.overoptimization.learn_reward_models` on ``advrl/Tomato-v0``: 1,000
random-policy segments of 10 steps, ``noise`` flipped labels, a 5-member ensemble) for one
(seed, pairs, noise); its rows are the five members (member 0 is the benchmark's "single" RM)
and the mean, WCO and UWO (lambda 0.1) aggregates. The number of labelled pairs varies the
models' quality.

The tomato gridworld is small (107 states reachable from the start), so everything else is
exact: the MDP is enumerated through the env's own ``step``; each reward is evaluated on every
``(s, a, s')``; the policy "trained on" a reward is its optimal stationary policy for
gamma = 0.98 (PPO's discount in the benchmark; value iteration). Its regret, exact, from the
env's start state: ``regret``, the gamma-discounted true value of the truth's optimal policy
minus its own, over best minus worst (the regret the STARC bounds are about, normalised as
the STARC authors do); ``regret_all_starts``, the same with a uniform initial distribution
over the reachable states; ``regret_episode``, the best 100-step true return minus its own
(the episode the env runs). Distances, with gamma 0.98: EPIC with the coverage the reference
uses (the random policy's transitions; ``D_S`` their pooled state marginal, ``D_A``
uniform), exact; STARC (``c_VAL``, uniform ``pi``, L2) with the authors' weights (uniform
over ``(s, a)``) and with the coverage as weights; and EPIC by sampling on the preference
data's transitions (4,096 of them, ``n_mean_samples`` mean samples), as one would without
the table. Accuracy: the benchmark's held-out split (20% of the pairs) and a fresh set of
2,000 pairs (noisy and clean labels), scored as the ensemble serves the reward.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

import advrl  # noqa: F401  (registers advrl/Tomato-v0)
from advrl.agents.reward_models import (
    epic_distance,
    pair_accuracy,
    rollout_segments,
    sample_epic_distances,
    starc_distance,
    synthetic_preferences,
)
from advrl.bench.cells import config_key
from advrl.bench.overoptimization import UWO_LAMBDA, OveroptCell, learn_reward_models
from advrl.envs.tomato import REWARD_PER_TOMATO, TomatoGridworld

TASK, GAMMA, HORIZON = "advrl/Tomato-v0", 0.98, 100
PREDICTORS = ("epic", "starc", "starc_coverage", "epic_sampled", "error_held_out",
              "error_fresh", "error_fresh_clean")  # fmt: skip
"""The columns whose rank correlation with regret the report measures."""
REGRETS = ("regret", "regret_all_starts", "regret_episode")


def enumerate_tomato() -> dict[str, np.ndarray]:
    """Every state reachable from the start: observations, deterministic successors and the
    true reward of arriving in each state (0.02 x its watered tomatoes)."""
    env = TomatoGridworld("7x7", max_episode_steps=HORIZON)
    first, _ = env.reset(seed=0)
    key = lambda: (*env.agent.tolist(), *env.watered.tolist())  # noqa: E731
    index, obs, frontier, successors, true = {key(): 0}, [first], [key()], {}, {}
    true[0] = REWARD_PER_TOMATO * env.watered.sum()
    while frontier:
        state = frontier.pop()
        for action in range(env.action_space.n):
            env.agent, env.watered = np.array(state[:2]), np.array(state[2:], dtype=bool)
            env.t = 0
            next_obs, _, _, _, info = env.step(action)
            if key() not in index:
                index[key()] = len(obs)
                obs.append(next_obs)
                frontier.append(key())
            successors[index[state], action] = index[key()]
            true[index[key()]] = info["reward_true"]
    n, n_actions = len(obs), env.action_space.n
    nxt = np.array([[successors[s, a] for a in range(n_actions)] for s in range(n)])
    kernel = np.zeros((n, n_actions, n))
    kernel[np.arange(n)[:, None], np.arange(n_actions)[None], nxt] = 1.0
    return {"obs": np.stack(obs), "next": nxt, "kernel": kernel,
            "true": np.array([true[s] for s in range(n)])}  # fmt: skip


def true_reward(obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """The tomato truth from observations: 0.02 x the watered tomatoes (plane 2) of s'."""
    return next_obs.reshape(len(next_obs), 5, -1)[:, 2].sum(axis=1) * REWARD_PER_TOMATO


def mesh(model, mdp) -> np.ndarray:
    """``R[s, a, s']`` of a reward model on every (s, a, s') of the MDP."""
    n, n_actions = mdp["next"].shape
    s, a, t = (g.ravel() for g in np.meshgrid(np.arange(n), np.arange(n_actions), np.arange(n),
                                              indexing="ij"))  # fmt: skip
    return (
        model.predict(mdp["obs"][s], a, mdp["obs"][t])[0]
        .astype(np.float64)
        .reshape(n, n_actions, n)
    )


def coverage(mdp) -> tuple[np.ndarray, np.ndarray]:
    """The random policy's transition visitation over an episode from the start, and its
    states pooled from s and s'."""
    n, n_actions = mdp["next"].shape
    step = mdp["kernel"].mean(axis=1)  # P(s' | s) under uniform actions
    d, visits = np.eye(n)[0], np.zeros(n)
    for _ in range(HORIZON):
        visits += d / HORIZON
        d = d @ step
    dist = visits[:, None, None] * mdp["kernel"] / n_actions
    return dist, (dist.sum(axis=(1, 2)) + dist.sum(axis=(0, 1))) / 2


def greedy_policy(reward: np.ndarray, mdp) -> np.ndarray:
    """The gamma-optimal deterministic policy of ``reward`` (value iteration)."""
    nxt = mdp["next"]
    r = np.take_along_axis(reward, nxt[:, :, None], axis=2)[:, :, 0]
    v = np.zeros(len(nxt))
    for _ in range(5000):
        q = r + GAMMA * v[nxt]
        v, old = q.max(axis=1), v
        if np.abs(v - old).max() < 1e-10:
            break
    return q.argmax(axis=1)


def episode_returns(policy: np.ndarray, mdp) -> np.ndarray:
    """The policy's 100-step true return from every state (index 0: the env's start)."""
    s, total = np.arange(len(policy)), np.zeros(len(policy))
    for _ in range(HORIZON):
        s = mdp["next"][s, policy[s]]
        total += mdp["true"][s]
    return total


def true_values(policy: np.ndarray, mdp) -> np.ndarray:
    """The policy's gamma-discounted true value in every state, exactly (a linear solve)."""
    n = len(policy)
    successor = mdp["next"][np.arange(n), policy]
    step = np.zeros((n, n))
    step[np.arange(n), successor] = 1.0
    return np.linalg.solve(np.eye(n) - GAMMA * step, mdp["true"][successor])


def references(mdp) -> dict[str, float]:
    """What regrets are measured against: the best and worst discounted values at the start
    (the truth's and the negated truth's optimal policies) and the best 100-step return."""
    truth = np.broadcast_to(mdp["true"], mdp["kernel"].shape)
    v = np.zeros(len(mdp["next"]))
    for _ in range(HORIZON):  # finite-horizon dynamic programming
        v = (mdp["true"][mdp["next"]] + v[mdp["next"]]).max(axis=1)
    best, worst = (true_values(greedy_policy(r, mdp), mdp) for r in (truth, -truth))
    return {"v_best": float(best[0]), "v_worst": float(worst[0]),
            "v_best_mean": float(best.mean()), "v_worst_mean": float(worst.mean()),
            "episode_best": float(v[0])}  # fmt: skip


def regrets(reward: np.ndarray, mdp, ref: dict[str, float]) -> dict[str, float]:
    """Regret of the reward's optimal policy: in discounted true value, normalised by best -
    worst (STARC's regret; the authors' normalisation), from the env's start and from a
    uniformly drawn reachable state; and in 100-step true return from the start."""
    policy = greedy_policy(reward, mdp)
    values, episode = true_values(policy, mdp), episode_returns(policy, mdp)[0]
    span, span_mean = ref["v_best"] - ref["v_worst"], ref["v_best_mean"] - ref["v_worst_mean"]
    return {"regret": float((ref["v_best"] - values[0]) / span),
            "regret_all_starts": float((ref["v_best_mean"] - values.mean()) / span_mean),
            "regret_episode": ref["episode_best"] - float(episode)}  # fmt: skip


def served_models(ensemble) -> dict[str, object]:
    models = {f"member{k}": m for k, m in enumerate(ensemble.members)}
    models["mean"] = ensemble.with_aggregation("mean")
    models["wco"] = ensemble.with_aggregation("wco")
    models["uwo"] = ensemble.with_aggregation("uwo", UWO_LAMBDA["ppo"])
    return models


def accuracy(model, data) -> tuple[float, float]:
    """Pair accuracy (noisy, clean labels) of segment returns under the served reward."""
    seg = data.segments
    rewards = model.predict(*seg.flat())[0].reshape(len(seg), seg.length).sum(axis=1)
    a, b = rewards[data.pairs[:, 0]], rewards[data.pairs[:, 1]]
    return pair_accuracy(a, b, data.labels), pair_accuracy(a, b, data.clean_labels)


def ensemble_rows(
    seed: int, pairs: int, noise: float, mdp, cov, d_s, ref: dict, n_mean: int
) -> list[dict]:
    cell = OveroptCell(TASK, "bon", "all", seed=seed, n_pairs=pairs, noise=noise)
    ensemble, reports = learn_reward_models(cell)
    env = gym.make(TASK)
    # the benchmark's data and held-out split (learn_reward_models / train_ensemble)
    data = synthetic_preferences(rollout_segments(env, cell.n_segments, 10, seed=seed),
                                 pairs, noise=cell.noise, seed=seed)  # fmt: skip
    _, held_out = data.split(0.2, seed=seed)
    fresh = synthetic_preferences(rollout_segments(env, 1000, 10, seed=10_000 + seed), 2000,
                                  noise=cell.noise, seed=10_000 + seed)  # fmt: skip
    true_mesh = np.broadcast_to(mdp["true"][None, None, :], mdp["kernel"].shape)
    models = served_models(ensemble)
    sampled = sample_epic_distances(list(models.values()), true_reward, data.segments.flat(),
                                    gamma=GAMMA, n_samples=4096, n_mean_samples=n_mean,
                                    n_boot=200, rng=seed)  # fmt: skip
    rows = []
    for (name, model), est in zip(models.items(), sampled, strict=True):
        r = mesh(model, mdp)
        acc_held, _ = accuracy(model, held_out)
        acc_fresh, acc_clean = accuracy(model, fresh)
        if name.startswith("member"):  # the same split and score as the benchmark's report
            # an internal invariant: this split is the one the trainer held out
            assert abs(acc_held - reports[int(name[-1])].held_out_accuracy) < 0.05, name
        rows.append({
            "seed": seed, "pairs": pairs, "noise": noise, "model": name,
            **regrets(r, mdp, ref),
            "epic": epic_distance(r, true_mesh, GAMMA, cov, d_s),
            "starc": starc_distance(r, true_mesh, mdp["kernel"], GAMMA),
            "starc_coverage": starc_distance(r, true_mesh, mdp["kernel"], GAMMA, weights=cov),
            "epic_sampled": est.distance, "epic_sampled_ci": [est.low, est.high],
            "error_held_out": 1 - acc_held, "error_fresh": 1 - acc_fresh,
            "error_fresh_clean": 1 - acc_clean,
        })  # fmt: skip
    return rows


@functools.cache
def tomato_mdp() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, float]]:
    """The enumerated MDP, its coverage (transitions, states) and the regret references,
    computed once per process."""
    mdp = enumerate_tomato()
    if not np.allclose(true_reward(mdp["obs"], None, mdp["obs"]), mdp["true"]):
        raise RuntimeError("the tomato truth read from observations disagrees with the env's")
    return (mdp, *coverage(mdp), references(mdp))


@dataclass(frozen=True)
class RewardDistanceCell:
    """One ensemble of the overoptimisation benchmark on Tomato: distances, accuracies and
    exact regrets of its eight served rewards (rows of the result)."""

    seed: int = 0
    pairs: int = 2000
    noise: float = 0.25
    n_mean_samples: int = 1024

    kind: ClassVar[str] = "reward_distances"

    def __post_init__(self) -> None:
        if self.pairs < 2:
            raise ValueError(f"pairs must be >= 2 (one to train on, one held out), got "
                             f"{self.pairs}")  # fmt: skip
        if not 0 <= self.noise <= 0.5:
            raise ValueError(f"noise must be in [0, 0.5], got {self.noise}")
        if self.n_mean_samples < 1:
            raise ValueError(f"n_mean_samples must be >= 1, got {self.n_mean_samples}")

    @property
    def label(self) -> str:
        return f"distances pairs {self.pairs} noise {self.noise:g} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": TASK, **asdict(self)}

    @property
    def key(self) -> str:
        return config_key(f"distances-p{self.pairs}-n{self.noise:g}-s{self.seed}",
                          self.to_dict())  # fmt: skip

    def run(self) -> dict[str, Any]:
        mdp, cov, d_s, ref = tomato_mdp()
        rows = ensemble_rows(self.seed, self.pairs, self.noise, mdp, cov, d_s, ref,
                             self.n_mean_samples)  # fmt: skip
        return {"rows": rows, "states": len(mdp["next"]), **ref}


def reward_distances_suite(
    seeds: list[int], pairs: list[int], noises: list[float], n_mean_samples: int = 1024
) -> list[RewardDistanceCell]:
    """One cell per (noise, pairs, seed)."""
    return [RewardDistanceCell(seed, p, noise, n_mean_samples)
            for noise in noises for p in pairs for seed in seeds]  # fmt: skip


REPORT = ("write_reward_distances_report", "spearman_with_ci")


def __getattr__(name: str):
    # The report lives in its own module (it imports this one); re-exported lazily.
    if name in REPORT:
        from advrl.bench import reward_distances_report

        return getattr(reward_distances_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
