"""Constrained optimisation of a composite of learned rewards (Moskovitz et al. 2023): does
keeping each component below its proxy point stop the gold return's peak and fall?

Protocol per (task, seed), in one cell: learn one reward model per component of the task's
true reward (HalfCheetah: ``rm_forward`` from preferences labelled by the forward reward,
``rm_ctrl`` from preferences labelled by the control cost; the low-data, noisy-label setting
where the overoptimisation benchmark sees PPO overoptimise), then

1. ``sum``: SB3 PPO on the unconstrained sum of the component rewards, recording along
   training the gold (true) return and each component's episode return;
2. the proxy points, found from that run as the paper does
   (:func:`~advrl.agents.constrained.find_proxy_points`: the component returns where a
   quadratic fit of gold on them peaks);
3. ``constrained``: :class:`~advrl.agents.constrained.ConstrainedPPO` on the same reward
   models with those proxy points as thresholds (upper constraints).

Both runs use the same PPO settings and seed, so their throughput ratio (env steps per
second) is measured in the same cell. Both must see the same reward models: they are
trained once and the runs differ only in the learner.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key

COMPONENTS: dict[str, tuple[str, ...]] = {"HalfCheetah-v5": ("forward", "ctrl")}
"""The reward parts (``info["reward_<part>"]``) each task's true reward is the sum of."""
POINTS = 20  # curve points per run; the proxy-point fit uses them


def _label_by(part: str):
    """A true-reward function returning one reward part (preference labels per component)."""

    def component(obs, action, next_obs, info) -> float:
        return float(info[f"reward_{part}"])

    return component


@dataclass(frozen=True)
class ConstrainedCell:
    """Learn one reward model per component, run PPO on their sum, find the proxy points,
    then run ConstrainedPPO under them. ``steps`` = 0 takes the task's default;
    ``episode_steps`` > 0 cuts the PPO runs' episodes to that length (0: the task's)."""

    task: str = "HalfCheetah-v5"
    seed: int = 0
    steps: int = 0
    noise: float = 0.25
    n_segments: int = 1000
    n_pairs: int = 100
    rm_epochs: int = 10
    n_envs: int = 8
    episode_steps: int = 0
    sense: str = "upper"
    multiplier_lr: float = 1.0
    multiplier_bound: float = 2.0

    kind: ClassVar[str] = "constrained"

    def __post_init__(self) -> None:
        from advrl.agents.constrained.lagrange import check_sense, check_step_settings

        if self.task not in COMPONENTS:
            raise ValueError(f"unknown task {self.task!r}; allowed: {sorted(COMPONENTS)}")
        check_sense(self.sense)
        check_step_settings(self.multiplier_lr, 0.1, 0.5)
        if not (math.isfinite(self.multiplier_bound) and self.multiplier_bound > 0):
            raise ValueError(f"multiplier_bound must be > 0, got {self.multiplier_bound!r}")
        if not 0 <= self.noise <= 0.5:
            raise ValueError(f"need noise in [0, 0.5], got {self.noise}")
        if self.n_pairs < 2 or self.n_segments < 2 or min(self.steps, self.episode_steps) < 0:
            raise ValueError(f"need n_pairs >= 2, n_segments >= 2 and steps >= 0, got "
                             f"{self.n_pairs}, {self.n_segments}, {self.steps}")  # fmt: skip

    @property
    def label(self) -> str:
        return f"{self.task} constrained s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        return config_key(f"constrained-{self.task.split('/')[-1]}-s{self.seed}", self.to_dict())

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(f"rm_{p}" for p in COMPONENTS[self.task])

    def run(self) -> dict[str, Any]:
        from advrl.agents.constrained import find_proxy_points

        models, accuracy = learn_component_models(self)
        unconstrained = _run(self, models, None)
        points = np.asarray(unconstrained["curve"])  # rows: steps, gold, proxy, *components
        proxy = find_proxy_points(points[:, 3:], points[:, 1], self.components)
        constrained = _run(self, models, proxy.as_dict())
        return {
            "rm_held_out_clean_accuracy": accuracy,
            "proxy_points": proxy.as_dict(),
            "proxy_point_gold": proxy.gold,
            "sum": unconstrained,
            "constrained": constrained,
            "throughput_ratio": constrained["steps_per_second"] / unconstrained["steps_per_second"],
            "mean_return": constrained["final_gold"],
        }


def learn_component_models(cell: ConstrainedCell) -> tuple[dict[str, Any], dict[str, float]]:
    """One reward net per component from ``n_pairs`` noisy preferences labelled by that
    reward part alone; returns ``{name: net}`` and each net's held-out clean accuracy."""
    import gymnasium as gym

    from advrl.agents.reward_models import rollout_segments, synthetic_preferences, train_ensemble
    from advrl.bench.overoptimization import TASKS
    from advrl.envs.proxy import ProxyReward

    task = TASKS[cell.task]
    models, accuracy = {}, {}
    for k, part in enumerate(COMPONENTS[cell.task]):
        env = ProxyReward(gym.make(cell.task), None, true=_label_by(part))
        seed = cell.seed * 100 + k
        segments = rollout_segments(env, cell.n_segments, task.segment_length, seed=seed)
        data = synthetic_preferences(segments, cell.n_pairs, noise=cell.noise, seed=seed)
        ensemble, reports = train_ensemble(
            env.observation_space, env.action_space, data, n_members=1, seed=seed,
            epochs=cell.rm_epochs, net_kwargs={"hidden": (64, 64), "inputs": task.inputs},
            lr=1e-3, batch_size=64,
        )  # fmt: skip
        models[f"rm_{part}"] = ensemble.members[0]
        accuracy[f"rm_{part}"] = float(reports[0].held_out_clean_accuracy)
    return models, accuracy


def _run(cell: ConstrainedCell, models: dict, thresholds: dict[str, float] | None) -> dict:
    """PPO on the sum (``thresholds`` None) or ConstrainedPPO; the curve of gold, proxy and
    component returns of the training episodes, and the learner's env steps per second."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from advrl.agents.constrained import ConstrainedPPO, VecComposeRewards, VecRewardComponents
    from advrl.bench.overoptimization import TASKS

    task = TASKS[cell.task]
    steps = cell.steps or task.ppo_steps
    env_kwargs = {"max_episode_steps": cell.episode_steps} if cell.episode_steps else None
    venv = make_vec_env(cell.task, cell.n_envs, seed=cell.seed, env_kwargs=env_kwargs)
    venv = VecRewardComponents(venv, models)
    if task.normalize_obs:  # outside the rewards: the reward models see raw observations
        venv = VecNormalize(venv, norm_obs=True, norm_reward=False)
    names = list(models)
    mus: list[list[float]] = []

    class Record(BaseCallback):
        """Episode (gold, proxy, components) sums from the infos; multipliers per rollout."""

        def _on_training_start(self) -> None:
            self.sums = np.zeros((self.training_env.num_envs, 2 + len(names)))
            self.episodes: list[np.ndarray] = []

        def _on_step(self) -> bool:
            for i, (done, info) in enumerate(zip(self.locals["dones"], self.locals["infos"],
                                                 strict=True)):  # fmt: skip
                self.sums[i] += [info["reward_true"], info["reward_proxy"],
                                 *(info[f"reward_{n}"] for n in names)]  # fmt: skip
                if done:
                    self.episodes.append(self.sums[i].copy())
                    self.sums[i] = 0.0
            return True

        def _on_rollout_end(self) -> None:
            if thresholds is not None:
                mus.append([self.num_timesteps, *self.model.multipliers.values()])

    if thresholds is None:
        model = PPO("MlpPolicy", VecComposeRewards(venv, names), seed=cell.seed, device="cpu",
                    **task.ppo)  # fmt: skip
    else:
        model = ConstrainedPPO(
            "MlpPolicy", venv, components=names, thresholds=thresholds, sense=cell.sense,
            multiplier_lr=cell.multiplier_lr, multiplier_bound=cell.multiplier_bound,
            seed=cell.seed, device="cpu", **task.ppo,
        )  # fmt: skip
    record = Record()
    start = time.perf_counter()
    model.learn(steps, callback=record)
    seconds = time.perf_counter() - start
    episodes = np.asarray(record.episodes)
    if len(episodes) < POINTS:
        raise ValueError(f"{steps} PPO steps finished {len(episodes)} episodes; the curve "
                         f"needs {POINTS}: give more steps")  # fmt: skip
    curve, seen, per_episode = [], 0, steps / len(episodes)
    for chunk in np.array_split(episodes, POINTS):
        seen += len(chunk)
        curve.append([seen * per_episode, *chunk.mean(axis=0).tolist()])
    gold = np.array([c[1] for c in curve])
    return {
        "curve": curve,  # rows: env steps, gold, proxy, *component returns
        "columns": ["steps", "gold", "proxy", *names],
        "peak_gold": float(gold.max()),
        "final_gold": float(gold[-1]),
        "gold_drop": float(gold.max() - gold[-1]),
        "final_components": dict(zip(names, curve[-1][3:], strict=True)),
        "multipliers": mus,
        "steps_per_second": steps / seconds,
        "seconds": seconds,
    }


def constrained_suite(
    tasks: list[str], seeds: list[int], steps: int = 0, pairs: int = 100, noise: float = 0.25,
    multiplier_lr: float = 1.0,
) -> list[ConstrainedCell]:  # fmt: skip
    """One cell per task and seed (each runs the unconstrained sum and the constrained
    learner on the same reward models)."""
    return [ConstrainedCell(task, seed, steps=steps, n_pairs=pairs, noise=noise,
                            multiplier_lr=multiplier_lr)
            for task in tasks for seed in seeds]  # fmt: skip


REPORT = ("write_constrained_report", "constrained_figure")


def __getattr__(name: str):
    # The report lives in its own module (it imports this one); re-exported lazily.
    if name in REPORT:
        from advrl.bench import constrained_report

        return getattr(constrained_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
