"""Benchmark cells (plain configs) and the suites built from them."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

STANDARD_EPS: dict[str, float] = {
    "Hopper-v5": 0.075,
    "Walker2d-v5": 0.05,
    "HalfCheetah-v5": 0.15,
    "Ant-v5": 0.15,
    "Humanoid-v5": 0.075,
    # Not from the papers: a budget that separates random from gradient attacks on CartPole.
    "CartPole-v1": 0.5,
}
"""l_inf budgets in the normalised observation space (SA-PPO protocol; PAPERS.md)."""

MUJOCO_POLICIES = ("ppo-hopper", "ppo-walker2d", "ppo-halfcheetah", "ppo-ant")
CONTINUOUS_ATTACKS = ("uniform", "gaussian", "fgsm", "pgd", "mad", "critic")
DISCRETE_ATTACKS = (*CONTINUOUS_ATTACKS, "targeted")


def config_key(prefix: str, config: dict[str, Any]) -> str:
    """A readable prefix plus a hash of the whole config: the same config, the same key."""
    digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    return f"{prefix}-{digest}"


@dataclass(frozen=True)
class Cell:
    """One evaluation: a zoo policy under one attack at one budget and seed.

    ``attack="none"`` (or ``eps=0``) is the clean baseline.
    """

    policy: str
    env: str
    attack: str
    eps: float
    seed: int = 0
    episodes: int = 50
    norm: str = "linf"
    n_envs: int = 10

    def __post_init__(self) -> None:
        from advrl.attacks.balls import NORMS

        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; allowed: {list(NORMS)}")
        if not math.isfinite(self.eps) or self.eps < 0:
            raise ValueError(f"eps must be a finite number >= 0, got {self.eps!r}")
        if self.episodes < 1 or self.n_envs < 1:
            raise ValueError(
                f"episodes and n_envs must be >= 1, got {self.episodes}, {self.n_envs}"
            )

    @property
    def clean(self) -> bool:
        return self.attack == "none" or self.eps == 0.0

    kind: ClassVar[str] = "attack"

    @property
    def label(self) -> str:
        return f"{self.policy} {self.attack} eps={self.eps:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def run(self) -> dict[str, Any]:
        """Evaluate: load the zoo policy, attack it, return the episode statistics."""
        import numpy as np

        import advrl.zoo
        from advrl.attacks import evaluate_under_attack, make_attack

        victim = advrl.zoo.load(self.policy)
        attack = None if self.clean else make_attack(self.attack, self.eps, self.norm)
        n_envs = min(self.n_envs, self.episodes)
        result = evaluate_under_attack(
            victim, self.env, attack, self.episodes, n_envs=n_envs, seed=self.seed
        )
        return {
            "mean_return": result.mean_return,
            "std_return": float(np.std(result.returns)),
            "returns": result.returns.tolist(),
            "mean_length": float(np.mean(result.lengths)),
            "mean_attack_norm": result.mean_attack_norm,
            "max_attack_norm": result.max_attack_norm,
            "steps": result.steps,
            "seconds": round(result.seconds, 3),
        }

    @property
    def key(self) -> str:
        """Stable identifier: the same config always maps to the same stored result."""
        return config_key(f"{self.policy}-{self.attack}-{self.eps:g}-s{self.seed}", self.to_dict())


def env_of(policy: str) -> str:
    """The env a zoo policy was trained on (read from its card, no model built)."""
    import advrl.zoo

    if policy not in advrl.zoo.names():
        raise KeyError(f"unknown zoo policy {policy!r}; available: {advrl.zoo.names()}")
    card = json.loads((advrl.zoo.ZOO_DIR / f"{policy}.json").read_text())
    return card["env_id"]


def attack_suite(
    policies: list[str],
    attacks: list[str],
    eps: list[float] | None = None,
    seeds: Sequence[int] = (0,),
    episodes: int = 50,
    n_envs: int = 10,
    norm: str = "linf",
) -> list[Cell]:
    """Every policy x attack x eps x seed, plus one clean cell per policy and seed.

    ``eps=None`` uses each env's standard budget (:data:`STANDARD_EPS`).
    """
    from advrl.attacks import ATTACKS

    for name in attacks:
        if name != "none" and name not in ATTACKS:
            raise ValueError(f"unknown attack {name!r}; allowed: {sorted(ATTACKS)} or 'none'")
    cells: list[Cell] = []
    for policy in policies:
        env = env_of(policy)
        budgets = eps if eps is not None else [STANDARD_EPS.get(env, 0.1)]
        for seed in seeds:
            cells.append(Cell(policy, env, "none", 0.0, seed, episodes, norm, n_envs))
            for attack in attacks:
                if attack == "none":
                    continue
                for e in budgets:
                    if e != 0:  # eps = 0 is the clean cell, already added; Cell rejects eps < 0
                        cells.append(
                            Cell(policy, env, attack, float(e), seed, episodes, norm, n_envs)
                        )
    return cells


def quick_suite(episodes: int = 10) -> list[Cell]:
    """The main job: two shipped MuJoCo policies against every attack at the standard eps."""
    return attack_suite(
        ["ppo-halfcheetah", "ppo-hopper"], list(CONTINUOUS_ATTACKS), episodes=episodes, n_envs=10
    )
