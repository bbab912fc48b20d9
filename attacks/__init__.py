"""Observation attacks: pure batched functions, wrappers that apply them, evaluation.

The wrappers come for one env (:class:`PerturbObservation`), an SB3 VecEnv
(:class:`VecPerturbObservation`) and a Gymnasium vector env
(:class:`advrl.attacks.vector.PerturbObservation`, as in ``gymnasium.wrappers.vector``).

Example:
    >>> import torch as th
    >>> from advrl.attacks import make_attack
    >>> from advrl.testing import LinearPolicy
    >>> attack = make_attack("pgd", eps=0.1)
    >>> adv = attack(th.zeros(8, 3), LinearPolicy(th.ones(1, 3)), th.Generator().manual_seed(0))
    >>> bool((adv.abs() <= 0.1 + 1e-7).all())
    True
"""

from __future__ import annotations

import inspect
from typing import Any

from advrl.attacks import vector
from advrl.attacks.base import Attack
from advrl.attacks.evaluate import EvalResult, evaluate_under_attack
from advrl.attacks.gradient import FGSM, MAD, PGD, CriticAttack, TargetedPGD
from advrl.attacks.noise import GaussianNoise, UniformNoise
from advrl.attacks.wrappers import PerturbObservation, VecPerturbObservation

ATTACKS: dict[str, type[Attack]] = {
    cls.name: cls
    for cls in (UniformNoise, GaussianNoise, FGSM, PGD, MAD, CriticAttack, TargetedPGD)
}
"""Attack classes by name: uniform, gaussian, fgsm, pgd, mad, critic, targeted."""

GRADIENT_ATTACKS = tuple(name for name, cls in ATTACKS.items() if cls.needs_gradients)


def make_attack(name: str, eps: float, norm: str = "linf", **kwargs: Any) -> Attack:
    """Build an attack by name (``advrl.attacks.ATTACKS`` lists them).

    Raises:
        TypeError: a name that is not a string, a setting the attack does not take, or a
            setting of the wrong type.
        ValueError: unknown name (the message lists the allowed ones) or a bad budget.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be an attack name, got {name!r}; allowed: {sorted(ATTACKS)}")
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; allowed: {sorted(ATTACKS)}")
    cls = ATTACKS[name]
    settings = list(inspect.signature(cls).parameters)[2:]  # after eps and norm
    for key in kwargs:
        if key not in settings:
            raise TypeError(f"{name!r} takes no argument {key!r}; allowed: {settings}")
    return cls(eps, norm, **kwargs)


__all__ = [
    "ATTACKS",
    "FGSM",
    "GRADIENT_ATTACKS",
    "MAD",
    "PGD",
    "Attack",
    "CriticAttack",
    "EvalResult",
    "GaussianNoise",
    "PerturbObservation",
    "TargetedPGD",
    "UniformNoise",
    "VecPerturbObservation",
    "evaluate_under_attack",
    "make_attack",
    "vector",
]
