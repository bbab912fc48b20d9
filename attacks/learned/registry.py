"""Learned attacks by name: which adversary each needs, how it is trained and loaded.

Several attacks can share one trained adversary: ``rs`` and ``rs_mad`` both run on the
Robust Sarsa critic. Entry points are ``"module:function"`` strings, imported on use.

- ``train(victim, eps, steps, *, norm="linf", seed=0, **kwargs)`` returns an object with a
  ``card`` (:class:`~advrl.attacks.learned.artifacts.AdversaryCard`) and
  ``save(path, command="") -> Path``.
- ``load(path, *, attack, victim, eps, norm, device="cpu")`` returns the
  :class:`~advrl.attacks.base.Attack`, refusing a file trained for another victim or budget.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advrl.attacks.base import Attack, check_budget
from advrl.attacks.learned.artifacts import shipped_adversaries, shipped_path
from advrl.attacks.learned.victims import victim_name


@dataclass(frozen=True)
class LearnedAttack:
    adversary: str
    """The kind of trained artefact it runs on (its file is ``<adversary>-<victim>``)."""
    train: str
    load: str


LEARNED_ATTACKS: dict[str, LearnedAttack] = {
    "optimal": LearnedAttack(
        "optimal",
        "advrl.attacks.learned.optimal:train_optimal_attack",
        "advrl.attacks.learned.optimal:load_attack",
    ),
    "rs": LearnedAttack(
        "rs",
        "advrl.attacks.learned.robust_sarsa:train_robust_sarsa",
        "advrl.attacks.learned.robust_sarsa:load_attack",
    ),
    "rs_mad": LearnedAttack(
        "rs",
        "advrl.attacks.learned.robust_sarsa:train_robust_sarsa",
        "advrl.attacks.learned.robust_sarsa:load_attack",
    ),
    "paad": LearnedAttack(
        "paad",
        "advrl.attacks.learned.paad:train_paad",
        "advrl.attacks.learned.paad:load_attack",
    ),
}
"""Learned attack name -> its adversary kind and entry points."""

ADVERSARY_KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(a.adversary for a in LEARNED_ATTACKS.values())
)


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def check_learned_attack(name: Any) -> LearnedAttack:
    if name not in LEARNED_ATTACKS:
        raise ValueError(f"unknown learned attack {name!r}; allowed: {sorted(LEARNED_ATTACKS)}")
    return LEARNED_ATTACKS[name]


def check_adversary_kind(kind: Any) -> str:
    if kind not in ADVERSARY_KINDS:
        raise ValueError(f"unknown adversary kind {kind!r}; allowed: {list(ADVERSARY_KINDS)}")
    return kind


def train_adversary(kind: str, victim: str, eps: float, steps: int, **kwargs: Any) -> Any:
    """Train the ``kind`` adversary (``optimal``, ``rs``, ``paad``) against ``victim``."""
    check_adversary_kind(kind)
    eps, norm = check_budget(eps, kwargs.pop("norm", "linf"))
    trainer = next(a.train for a in LEARNED_ATTACKS.values() if a.adversary == kind)
    return _resolve(trainer)(victim, eps, steps, norm=norm, **kwargs)


def load_learned_attack(
    name: str,
    *,
    victim: str,
    eps: float,
    norm: str = "linf",
    path: str | Path | None = None,
    device: str = "cpu",
) -> Attack:
    """The learned attack ``name`` on ``victim`` at ``eps``: from ``path``, or the shipped
    adversary of that victim.

    Raises:
        ValueError: unknown name, no shipped adversary for the victim, or a file trained for
            another victim or budget (both named).
    """
    entry = check_learned_attack(name)
    eps, norm = check_budget(eps, norm)
    if path is None:
        path = shipped_path(entry.adversary, victim_name(victim))
        if not path.is_file():
            raise ValueError(
                f"no shipped {entry.adversary!r} adversary for victim {victim!r}; shipped: "
                f"{shipped_adversaries()}. Train one: python -m advrl.attacks.learned.train "
                f"--kind {entry.adversary} --victim {victim} --steps N"
            )
    return _resolve(entry.load)(path, attack=name, victim=victim, eps=eps, norm=norm, device=device)
