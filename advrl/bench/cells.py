"""Benchmark cells (plain configs) and the suites built from them."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
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

    ``attack="none"`` (or ``eps=0``) is the clean baseline. A learned attack
    (``advrl.attacks.learned.LEARNED_ATTACKS``: optimal, rs, rs_mad, paad) runs on the
    adversary file ``adversary``, or on the shipped adversary of the policy when it is None.
    """

    policy: str
    env: str
    attack: str
    eps: float
    seed: int = 0
    episodes: int = 50
    norm: str = "linf"
    n_envs: int = 10
    adversary: str | None = None
    """A learned attack's adversary file; relative paths are resolved against ``run_dir``.
    Left out of the config when None, so the keys of other cells never change."""
    run_dir: str | None = field(default=None, compare=False, repr=False)
    """The run directory a relative ``adversary`` lives in: where the cell runs, not what it
    computes, so it is never part of the config or the key (a moved run still resumes)."""

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
        if self.adversary is not None:
            from advrl.attacks.learned.registry import LEARNED_ATTACKS

            if self.attack not in LEARNED_ATTACKS:
                raise ValueError(
                    f"an adversary file applies to learned attacks ({sorted(LEARNED_ATTACKS)}) "
                    f"only, not to {self.attack!r}"
                )

    @property
    def clean(self) -> bool:
        return self.attack == "none" or self.eps == 0.0

    kind: ClassVar[str] = "attack"

    @property
    def label(self) -> str:
        return f"{self.policy} {self.attack} eps={self.eps:g}"

    def to_dict(self) -> dict[str, Any]:
        config = {"kind": self.kind, **asdict(self)}
        del config["run_dir"]
        if self.adversary is None:
            del config["adversary"]
            shipped = _shipped_adversary_digest(self.attack, self.policy)
            if shipped is not None:  # a re-shipped adversary is another cell, never a stale one
                config["shipped_adversary"] = shipped
        return config

    def adversary_path(self) -> Path | None:
        """The adversary file (None: the shipped one), which must exist.

        Raises:
            FileNotFoundError: naming the file, rather than attacking with nothing.
        """
        if self.adversary is None:
            return None
        path = Path(self.adversary)
        if not path.is_absolute() and self.run_dir is not None:
            path = Path(self.run_dir) / path
        if not path.is_file():
            raise FileNotFoundError(
                f"cell {self.key}: the {self.attack!r} adversary file {str(path)!r} is missing; "
                "train it first (the leaderboard's adversary cells write it)"
            )
        return path

    def make_attack(self):
        """The attack this cell runs (None when clean); a learned one is loaded from its file."""
        from advrl.attacks import make_attack
        from advrl.attacks.learned.registry import LEARNED_ATTACKS, load_learned_attack

        if self.clean:
            return None
        if self.attack in LEARNED_ATTACKS:
            return load_learned_attack(self.attack, victim=self.policy, eps=self.eps,
                                       norm=self.norm, path=self.adversary_path())  # fmt: skip
        return make_attack(self.attack, self.eps, self.norm)

    def run(self) -> dict[str, Any]:
        """Evaluate: load the zoo policy, attack it, return the episode statistics."""
        import numpy as np

        import advrl.zoo
        from advrl.attacks import evaluate_under_attack

        attack = self.make_attack()  # first: a missing adversary fails before any episode
        victim = advrl.zoo.load(self.policy)
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


def _shipped_adversary_digest(attack: str, policy: str) -> str | None:
    """SHA-256 prefix of the shipped adversary a learned-attack cell runs on (None for
    other attacks, or when the file is missing: the cell then fails when it runs)."""
    import hashlib

    from advrl.attacks.learned.registry import LEARNED_ATTACKS

    if attack not in LEARNED_ATTACKS:
        return None
    from advrl.attacks.learned.artifacts import shipped_path
    from advrl.attacks.learned.victims import victim_name

    path = shipped_path(LEARNED_ATTACKS[attack].adversary, victim_name(policy))
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def shipped_adversary_problem(attack: str, policy: str, eps: float, norm: str) -> str | None:
    """Why the shipped adversary of learned ``attack`` cannot attack ``policy`` at this
    budget (none shipped, another eps or norm, another checkpoint), or None if it can.

    Reads the adversary's card only; the loader checks the file itself when the cell runs.
    """
    from advrl.attacks.learned.artifacts import shipped_adversaries, shipped_path
    from advrl.attacks.learned.registry import check_learned_attack
    from advrl.attacks.learned.victims import victim_digest
    from advrl.zoo.checkpoint import read_card

    kind = check_learned_attack(attack).adversary
    path = shipped_path(kind, policy)
    if not path.is_file():
        return f"no shipped {kind!r} adversary for {policy!r} (shipped: {shipped_adversaries()})"
    card = read_card(path.with_suffix(".json"))
    trained_eps, trained_norm = card.get("eps"), card.get("norm")
    same_eps = isinstance(trained_eps, int | float) and math.isclose(trained_eps, eps)
    if not same_eps or trained_norm != norm:
        return (
            f"the shipped {kind!r} adversary for {policy!r} was trained for eps={trained_eps}, "
            f"norm={trained_norm!r}, not eps={eps:g}, norm={norm!r}"
        )
    digest = card.get("victim_digest")
    if digest is not None and digest != victim_digest(policy):
        return (
            f"the shipped {kind!r} adversary for {policy!r} was trained for another checkpoint "
            f"of it (digest {digest}, now {victim_digest(policy)})"
        )
    return None


def check_attack_names(attacks: Sequence[str]) -> None:
    """Raise a clear error for a name that is neither an attack, a learned attack nor "none"."""
    from advrl.attacks import ATTACKS
    from advrl.attacks.learned.registry import LEARNED_ATTACKS

    for name in attacks:
        if name != "none" and name not in ATTACKS and name not in LEARNED_ATTACKS:
            raise ValueError(
                f"unknown attack {name!r}; allowed: {sorted(ATTACKS)}, the learned attacks "
                f"{sorted(LEARNED_ATTACKS)}, or 'none'"
            )


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

    ``eps=None`` uses each env's standard budget (:data:`STANDARD_EPS`). Learned attacks
    run on the policy's shipped adversary, which must exist for that budget (checked here).
    """
    from advrl.attacks.learned.registry import LEARNED_ATTACKS

    check_attack_names(attacks)
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
                        cell = Cell(policy, env, attack, float(e), seed, episodes, norm, n_envs)
                        if attack in LEARNED_ATTACKS:
                            problem = shipped_adversary_problem(attack, policy, cell.eps, norm)
                            if problem is not None:
                                raise ValueError(f"attack {attack!r}: {problem}")
                        cells.append(cell)
    return cells


QUICK_POLICIES = ("ppo-halfcheetah", "ppo-hopper")
QUICK_LEARNED_ATTACKS = ("optimal",)
"""The learned attack ``bench quick`` adds where it is shipped: the strongest in the reference
and the cheapest to run (one forward pass, no gradients), so quick stays quick."""


def quick_learned_attacks(policy: str) -> tuple[list[str], dict[str, str]]:
    """The learned attacks ``bench quick`` runs on ``policy`` (those with a shipped adversary
    for its standard eps), and why each other one is left out."""
    eps = STANDARD_EPS[env_of(policy)]
    problems = {a: shipped_adversary_problem(a, policy, eps, "linf") for a in QUICK_LEARNED_ATTACKS}
    return [a for a, p in problems.items() if p is None], {
        a: p for a, p in problems.items() if p is not None
    }


def quick_suite(episodes: int = 10) -> list[Cell]:
    """The main job: two shipped MuJoCo policies against every attack at the standard eps,
    and the learned attacks whose adversaries are shipped for them."""
    cells: list[Cell] = []
    for policy in QUICK_POLICIES:
        learned, _ = quick_learned_attacks(policy)
        cells += attack_suite(
            [policy], [*CONTINUOUS_ATTACKS, *learned], episodes=episodes, n_envs=10
        )
    return cells
