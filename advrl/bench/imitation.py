"""Off-policy adversarial imitation with and without the gradient penalty (Blonde, Strasser &
Kalousis 2022: the penalty is the "sine qua non" of off-policy GAIL).

Protocol per (task, seed): roll out the task's zoo expert for ``demo_episodes`` deterministic
episodes and keep every 20th transition (raw observations; the expert's true return is
recorded); train :class:`~advrl.agents.ail.AdversarialSAC` on the discriminator reward for
``steps`` env steps, the only difference between the arms being the penalty (``gp``: on,
``no_gp``: off; spectral norm stays on in both, the reference's default); ``sac`` trains
plain SAC on the true reward at the same budget, for scale. Every ``steps / evals`` steps
the deterministic policy is evaluated for ``eval_episodes`` true-reward episodes; the
discriminator's local Lipschitz estimate is recorded alongside.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key

EXPERTS = {
    "Hopper-v5": "ppo-hopper",
    "HalfCheetah-v5": "ppo-halfcheetah",
    "Walker2d-v5": "ppo-walker2d",
    "Ant-v5": "ppo-ant",
}
"""The zoo expert of each task."""
ARMS = ("gp", "no_gp", "sac")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImitationCell:
    """One learner on one task and seed: AIL with (``gp``) or without (``no_gp``) the
    gradient penalty, or SAC on the true reward (``sac``)."""

    task: str
    arm: str
    seed: int = 0
    steps: int = 50_000
    demo_episodes: int = 4
    subsample: int = 20
    learning_starts: int = 5_000
    evals: int = 10
    eval_episodes: int = 5
    spectral_norm: bool = True

    kind: ClassVar[str] = "imitation"

    def __post_init__(self) -> None:
        if self.task not in EXPERTS:
            raise ValueError(f"unknown task {self.task!r}; allowed: {sorted(EXPERTS)}")
        if self.arm not in ARMS:
            raise ValueError(f"unknown arm {self.arm!r}; allowed: {list(ARMS)}")
        for name in ("steps", "demo_episodes", "subsample", "evals", "eval_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 0 <= self.learning_starts < self.steps:
            raise ValueError(f"need 0 <= learning_starts < steps, got {self.learning_starts} "
                             f"and {self.steps}")  # fmt: skip

    @property
    def expert(self) -> str:
        return EXPERTS[self.task]

    @property
    def label(self) -> str:
        return f"{self.task} {self.arm} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        return config_key(f"imitation-{self.task}-{self.arm}-s{self.seed}", self.to_dict())

    def run(self) -> dict[str, Any]:
        import gymnasium as gym
        from stable_baselines3 import SAC
        from stable_baselines3.common.monitor import Monitor

        from advrl.agents.ail import AdversarialSAC, AILConfig, expert_demonstrations

        demos = expert_demonstrations(self.expert, self.demo_episodes, subsample=self.subsample,
                                      seed=10_000 + self.seed)  # fmt: skip
        env = Monitor(gym.make(self.task))
        common = dict(learning_starts=self.learning_starts, seed=self.seed, device="cpu")
        if self.arm == "sac":
            model = SAC("MlpPolicy", env, **common)
        else:
            config = AILConfig(grad_pen=self.arm == "gp", spectral_norm=self.spectral_norm)
            model = AdversarialSAC("MlpPolicy", env, demos, ail=config, **common)
        every = max(1, self.steps // self.evals)
        curve, curve_std, lipschitz, train_returns = [], [], [], []
        start, trained = time.perf_counter(), 0.0
        while model.num_timesteps < self.steps:
            t0 = time.perf_counter()
            model.learn(min(every, self.steps - model.num_timesteps), reset_num_timesteps=False)
            trained += time.perf_counter() - t0
            mean, std = evaluate(model, self.task, self.eval_episodes,
                                 seed=20_000 + 1_000 * self.seed + len(curve))  # fmt: skip
            curve.append([model.num_timesteps, mean])
            curve_std.append([std])
            log.info(
                "%s: %d steps, true return %.0f, %.1f steps/s",
                self.label,
                model.num_timesteps,
                mean,
                model.num_timesteps / trained,
            )
            if getattr(model, "lipschitz_log", None):  # the latest estimate of the stretch
                lipschitz.append([model.num_timesteps, model.lipschitz_log[-1][1]])
            train_returns = [float(e["r"]) for e in model.ep_info_buffer]
        expert = demos.mean_return
        final = curve[-1][1]
        return {
            "mean_return": final,
            "final_return": final,
            "peak_return": max(c[1] for c in curve),
            "expert_return": expert,
            "fraction": final / expert,
            "peak_fraction": max(c[1] for c in curve) / expert,
            "train_return_last100": float(np.mean(train_returns)) if train_returns else None,
            "demo_transitions": len(demos),
            "curve": curve,
            "curve_std": curve_std,
            "lipschitz": lipschitz,
            "train_seconds": trained,
            "steps_per_second": self.steps / trained,
            "seconds": time.perf_counter() - start,
        }


def evaluate(model, task: str, episodes: int, seed: int) -> tuple[float, float]:
    """Mean and std of the deterministic policy's true return over ``episodes``."""
    import gymnasium as gym

    env = gym.make(task)
    returns = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed * 100 + ep)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, term, trunc, _ = env.step(action)
            total, done = total + float(reward), term or trunc
        returns.append(total)
    env.close()
    return float(np.mean(returns)), float(np.std(returns))


def imitation_suite(
    tasks: list[str], seeds: list[int], steps: int = 50_000, arms: list[str] | None = None,
    demo_episodes: int = 4, eval_episodes: int = 5,
) -> list[ImitationCell]:  # fmt: skip
    """One cell per task, seed and arm (default: ``gp`` and ``no_gp``)."""
    arms = list(arms or ("gp", "no_gp"))
    for a in arms:
        if a not in ARMS:
            raise ValueError(f"unknown arm {a!r}; allowed: {list(ARMS)}")
    return [
        ImitationCell(
            t,
            a,
            s,
            steps=steps,
            demo_episodes=demo_episodes,
            eval_episodes=eval_episodes,
            learning_starts=min(5_000, steps // 10),
        )  # fmt: skip
        for t in tasks
        for s in seeds
        for a in arms
    ]


REPORT = ("write_imitation_report", "imitation_figure")


def __getattr__(name: str):
    # The report lives in its own module (it imports this one); re-exported lazily.
    if name in REPORT:
        from advrl.bench import imitation_report

        return getattr(imitation_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
