"""Reward-model robustness to observation attacks, with and without Lipschitz regularisation.

Claim tested: a Lipschitz-regularised reward model (gradient penalty, or spectral norm)
degrades less than an unregularised one under an observation attack of the same eps.

Protocol per (task, seed), all in one cell so every model shares the data, the seeds and the
machine's load: roll out the initial policy (uniform random actions), cut segments, label
random pairs by the true reward and flip ``noise`` of the labels (as the overoptimisation
benchmark, :mod:`advrl.bench.overoptimization`); train one reward net per regulariser
(``"none"``, ``"gp"``: :class:`~advrl.agents.reward_models.training.GradientPenalty`,
``"sn"``: spectral norm) from the same initialisation seed and data order; each normalised
to mean 0, std 1 on the training transitions. Then, on a fresh pool of random-policy
episodes, attack the observations the reward model reads (``obs`` and ``next_obs`` of every
transition, independently, each inside an l_inf ball of radius ``eps`` in the **raw**
observation space; actions untouched), by PGD with a random start:

- ``untargeted`` maximises ``|r(x + delta) - r(x)|`` per transition. Reported: the reward
  error ``mean |r_attacked - r_clean| / std(r_clean)`` over the pool (the std of the model's
  clean rewards on the pool, so models on different scales compare), and the Spearman rank
  correlation of the attacked rewards with the true per-step rewards.
- ``selection`` is the attack on the served policy: an oracle adversary that knows the true
  returns raises the reward of every transition of the pool's below-median episodes and
  lowers it on the others. The served policy is best-of-n selection against the attacked
  reward (Gao et al. 2023; :func:`~advrl.bench.overoptimization.best_of_n`, exact over the
  pool): reported is its true (gold) return at each n and the episode-level Spearman
  correlation of attacked proxy returns with gold returns. Best-of-n stands in for RL
  against the reward because it is exact and cheap; PPO against an attacked reward is
  left out of this cell.

Also stored per model: held-out pair accuracy, the per-epoch local Lipschitz estimate (raw
units), the estimate after normalisation and over the pool (reward-std units), and the
preference-training throughput (pairs per second) with its ratio to ``"none"`` of the same
cell (``none`` is trained first, then the others, in one process).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key

REGULARIZERS = ("none", "gp", "sn")
ATTACKS = ("untargeted", "selection")
TASK_INPUTS = {"HalfCheetah-v5": ("obs", "action", "next_obs")}
"""Tasks the cell knows, and the inputs their reward nets read (as the overoptimisation
benchmark's)."""


@dataclass(frozen=True)
class RewardRobustnessCell:
    """Train reward models with each regulariser on one preference set, attack them.

    ``eps`` are l_inf radii in the raw observation space (0, the clean reference, is always
    evaluated too). ``gp_*`` configure the ``"gp"`` model's penalty (module docstring of
    :mod:`advrl.agents.reward_models.training`). The default target ``k = 0.05`` is in the
    raw reward net's units: with 25% label noise the Bradley-Terry fit on HalfCheetah keeps
    the unregularised net's input gradients near 0.15-0.2, so the customary ``k = 1`` would
    never bind (and neither does spectral norm's bound of 1, which the report shows).
    """

    task: str = "HalfCheetah-v5"
    seed: int = 0
    regularizers: tuple[str, ...] = REGULARIZERS
    eps: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    gp_weight: float = 10.0
    gp_target: float = 0.05
    gp_site: str = "data"
    gp_one_sided: bool = True
    noise: float = 0.25
    n_segments: int = 1000
    segment_length: int = 25
    n_pairs: int = 2000
    rm_epochs: int = 10
    episodes: int = 500
    horizon: int = 200
    pgd_steps: int = 10

    kind: ClassVar[str] = "reward_robustness"

    def __post_init__(self) -> None:
        from advrl.agents.reward_models.training import GradientPenalty

        if self.task not in TASK_INPUTS:
            raise ValueError(f"unknown task {self.task!r}; allowed: {sorted(TASK_INPUTS)}")
        bad = [r for r in self.regularizers if r not in REGULARIZERS]
        if (
            bad
            or "none" not in self.regularizers
            or len(set(self.regularizers)) != len(self.regularizers)
        ):
            raise ValueError(f"regularizers must be distinct names from {list(REGULARIZERS)} "
                             f"including 'none' (the reference), got "
                             f"{list(self.regularizers)!r}")  # fmt: skip
        if not self.eps or not all(
            isinstance(e, int | float) and math.isfinite(e) and e > 0 for e in self.eps
        ):
            raise ValueError(f"eps must be finite numbers > 0, got {list(self.eps)!r}")
        GradientPenalty(self.gp_weight, self.gp_target, self.gp_one_sided, self.gp_site)
        if not 0 <= self.noise <= 0.5:
            raise ValueError(f"noise must be in [0, 0.5], got {self.noise}")
        for name in ("n_segments", "n_pairs", "episodes"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)}")
        for name in ("segment_length", "rm_epochs", "horizon", "pgd_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def label(self) -> str:
        return f"{self.task} reward robustness s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        name = self.task.split("/")[-1]
        return config_key(f"rmrob-{name}-s{self.seed}", self.to_dict())

    def run(self) -> dict[str, Any]:
        import torch as th

        from advrl.bench.overoptimization import best_of_n

        models, reports, n_train = train_models(self)
        pool = episode_pool(self)
        tensors = [th.as_tensor(pool[k]) for k in ("obs", "act", "next")]
        ns = sorted({int(2**k) for k in range(int(math.log2(self.episodes)) + 1)}
                    | {self.episodes})  # fmt: skip
        # the selection adversary raises the proxy of below-median episodes, lowers the rest
        gold = pool["gold"]
        step_sign = np.where(gold < np.median(gold), 1.0, -1.0)[pool["episode"]]
        gen = th.Generator().manual_seed(self.seed + 4242)
        out: dict[str, Any] = {"eps": [0.0, *map(float, self.eps)], "n": ns,
                               "pool_mean_gold": float(gold.mean()),
                               "pool_max_gold": float(gold.max()), "models": {}}  # fmt: skip
        base = reports["none"].seconds
        for reg, net in models.items():
            rep = reports[reg]
            with net.serving():
                clean = net(*tensors).detach().numpy()
                std = float(clean.std())
                row = {
                    "held_out_accuracy": rep.held_out_accuracy,
                    "held_out_clean_accuracy": rep.held_out_clean_accuracy,
                    "lipschitz": rep.lipschitz,
                    "lipschitz_normalized": rep.lipschitz_normalized,
                    "pool_lipschitz": pool_lipschitz(net, tensors) / std,
                    "train_seconds": rep.seconds,
                    "throughput": n_train * self.rm_epochs / rep.seconds,
                    "throughput_ratio": base / rep.seconds,
                    "reward_std": std,
                    "reward_error": [], "spearman_step": [], "bon_gold": [],
                    "spearman_episode": [],
                }  # fmt: skip
                for eps in out["eps"]:
                    if eps == 0:
                        un, sel = clean, clean
                    else:
                        un = pgd_reward_attack(net, tensors, eps, "untargeted", self.pgd_steps,
                                               generator=gen)  # fmt: skip
                        sel = pgd_reward_attack(net, tensors, eps, th.as_tensor(step_sign),
                                                self.pgd_steps, generator=gen)  # fmt: skip
                    row["reward_error"].append(float(np.abs(un - clean).mean() / std))
                    row["spearman_step"].append(spearman(un, pool["reward"]))
                    proxy = np.bincount(pool["episode"], weights=sel, minlength=self.episodes)
                    row["bon_gold"].append([best_of_n(proxy, gold, n)[0] for n in ns])
                    row["spearman_episode"].append(spearman(proxy, gold))
            out["models"][reg] = row
        return out


def train_models(cell: RewardRobustnessCell):
    """The cell's reward nets and training reports, keyed by regulariser (``"none"`` first),
    and the number of training pairs."""
    import gymnasium as gym
    import torch as th

    from advrl.agents.reward_models import (
        RewardNet,
        rollout_segments,
        synthetic_preferences,
        train_reward_model,
    )
    from advrl.agents.reward_models.training import GradientPenalty

    env = gym.make(cell.task)
    segments = rollout_segments(env, cell.n_segments, cell.segment_length, seed=cell.seed)
    data = synthetic_preferences(segments, cell.n_pairs, noise=cell.noise, seed=cell.seed)
    train, test = data.split(0.2, seed=cell.seed)
    penalty = GradientPenalty(cell.gp_weight, cell.gp_target, cell.gp_one_sided, cell.gp_site)
    models, reports = {}, {}
    for reg in sorted(cell.regularizers, key=REGULARIZERS.index):
        with th.random.fork_rng(devices=[]):
            th.manual_seed(cell.seed)  # the same initial weights for every regulariser
            net = RewardNet(env.observation_space, env.action_space, hidden=(64, 64),
                            inputs=TASK_INPUTS[cell.task], spectral_norm=reg == "sn")  # fmt: skip
        reports[reg] = train_reward_model(net, train, cell.rm_epochs, test, seed=cell.seed,
                                          penalty=penalty if reg == "gp" else None,
                                          lr=1e-3, batch_size=64)  # fmt: skip
        models[reg] = net
    return models, reports, len(train)


def episode_pool(cell: RewardRobustnessCell) -> dict[str, np.ndarray]:
    """Random-policy episodes (seeds apart from the training segments'): transitions
    ``obs``/``act``/``next``, true per-step ``reward``, ``episode`` index per step, ``gold``
    return per episode."""
    import gymnasium as gym

    env = gym.make(cell.task, max_episode_steps=cell.horizon)
    env.action_space.seed(cell.seed + 777)
    steps: dict[str, list] = {"obs": [], "act": [], "next": [], "reward": [], "episode": []}
    for ep in range(cell.episodes):
        obs, _ = env.reset(seed=10_000 + cell.seed * 100_003 + ep)
        done = False
        while not done:
            action = env.action_space.sample()
            nxt, reward, term, trunc, info = env.step(action)
            for k, v in zip(steps, (obs, action, nxt, info.get("reward_true", reward), ep),
                            strict=True):  # fmt: skip
                steps[k].append(v)
            obs, done = nxt, term or trunc
    pool = {k: np.asarray(v, np.float32) for k, v in steps.items() if k != "episode"}
    pool["episode"] = np.asarray(steps["episode"], np.int64)
    pool["gold"] = np.bincount(pool["episode"], weights=pool["reward"], minlength=cell.episodes)
    return pool


def pgd_reward_attack(
    model, transitions, eps: float, objective, steps: int = 10, *, norm: str = "linf",
    generator=None,
) -> np.ndarray:  # fmt: skip
    """PGD on the observations a reward model reads; the attacked rewards, shape ``(batch,)``.

    ``obs`` and ``next_obs`` are each perturbed inside the ``eps``-ball (``norm``, raw
    observation space), from a uniform random start, with ``steps`` signed-gradient steps of
    ``2.5 * eps / steps`` (Madry et al. 2018); actions are untouched.

    Args:
        model: reward ``model(obs, actions, next_obs) -> (batch,)`` (differentiable).
        transitions: ``(obs, actions, next_obs)`` tensors, batch first.
        objective: ``"untargeted"`` (maximise ``|r(x + delta) - r(x)|``) or a tensor of
            signs ``(batch,)``: maximise ``sign * r(x + delta)``.

    Example:
        >>> import torch as th
        >>> f = lambda o, a, n: o.sum(dim=1) + n.sum(dim=1)
        >>> x = (th.zeros(2, 3), th.zeros(2, 1), th.zeros(2, 3))
        >>> [round(float(r), 4) for r in pgd_reward_attack(f, x, 0.1, th.tensor([1.0, -1.0]))]
        [0.6, -0.6]
    """
    import torch as th

    from advrl.attacks.balls import NORMS, project, uniform_in_ball, unit_direction

    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; allowed: {list(NORMS)}")
    if not (math.isfinite(eps) and eps > 0) or steps < 1:
        raise ValueError(f"need a finite eps > 0 and steps >= 1, got {eps!r}, {steps!r}")
    obs, actions, nxt = (th.as_tensor(t) for t in transitions)
    if isinstance(objective, str) and objective != "untargeted":
        raise ValueError(f"objective must be 'untargeted' or a tensor of signs, got {objective!r}")
    with th.no_grad():
        clean = model(obs, actions, nxt)
    sign = None if isinstance(objective, str) else th.as_tensor(objective, dtype=clean.dtype)
    deltas = [uniform_in_ball(x, eps, norm, generator) for x in (obs, nxt)]
    alpha = 2.5 * eps / steps
    for _ in range(steps):
        for d in deltas:
            d.requires_grad_(True)
        with th.enable_grad():
            r = model(obs + deltas[0], actions, nxt + deltas[1])
            gain = (r - clean).abs() if sign is None else sign * r
            grads = th.autograd.grad(gain.sum(), deltas)
        deltas = [project(d.detach() + alpha * unit_direction(g, norm), eps, norm)
                  for d, g in zip(deltas, grads, strict=True)]  # fmt: skip
    with th.no_grad():
        return model(obs + deltas[0], actions, nxt + deltas[1]).numpy()


def pool_lipschitz(net, tensors) -> float:
    """Largest gradient norm of the net w.r.t. ``obs`` and ``next_obs`` over the pool (the
    inputs the attack moves), in the net's output units."""
    import torch as th

    obs, actions, nxt = (t.clone().requires_grad_(True) if i != 1 else t
                         for i, t in enumerate(tensors))  # fmt: skip
    with th.enable_grad():
        grads = th.autograd.grad(net(obs, actions, nxt).sum(), [obs, nxt])
    return float(th.cat(grads, dim=1).norm(dim=1).max())


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (NaN when either side is constant)."""
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def reward_robustness_suite(
    tasks: list[str], seeds: list[int], eps: list[float] | None = None,
    regularizers: list[str] | None = None, gp_weight: float = 10.0, gp_target: float = 0.05,
    gp_site: str = "data", episodes: int = 500, pairs: int = 2000, noise: float = 0.25,
) -> list[RewardRobustnessCell]:  # fmt: skip
    """One cell per task and seed (each trains and attacks every regulariser)."""
    extra = {} if eps is None else {"eps": tuple(eps)}
    if regularizers is not None:
        extra["regularizers"] = tuple(regularizers)
    return [
        RewardRobustnessCell(
            task,
            seed,
            gp_weight=gp_weight,
            gp_target=gp_target,
            gp_site=gp_site,
            episodes=episodes,
            n_pairs=pairs,
            noise=noise,
            **extra,
        )  # fmt: skip
        for task in tasks
        for seed in seeds
    ]


REPORT = ("write_reward_robustness_report", "reward_robustness_figure")


def __getattr__(name: str):
    # The report lives in its own module (it imports this one); re-exported lazily.
    if name in REPORT:
        from advrl.bench import reward_robustness_report

        return getattr(reward_robustness_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
