"""Learned observation attacks: adversaries trained against one frozen victim and budget.

Each is stored weights-only with a card naming its victim (by checkpoint digest), ``eps``
and ``norm`` (:mod:`advrl.attacks.learned.artifacts`), reloaded by name, and run as a pure
batched :class:`~advrl.attacks.base.Attack` through the same wrappers and bench cells as the
gradient attacks.
"""

from __future__ import annotations

from advrl.attacks.learned.adversary_env import ObservationAdversaryEnv, VecObservationAdversary
from advrl.attacks.learned.adversary_vector import ObservationAdversaryVectorEnv
from advrl.attacks.learned.artifacts import (
    ADVERSARY_DIR,
    AdversaryCard,
    shipped_adversaries,
    shipped_path,
)
from advrl.attacks.learned.optimal import (
    OptimalAttack,
    TrainedAdversary,
    load_optimal_attack,
    train_optimal_attack,
)
from advrl.attacks.learned.registry import (
    ADVERSARY_KINDS,
    LEARNED_ATTACKS,
    load_learned_attack,
    train_adversary,
)
from advrl.attacks.learned.victims import load_victim, victim_digest

__all__ = [
    "ADVERSARY_DIR",
    "ADVERSARY_KINDS",
    "LEARNED_ATTACKS",
    "load_learned_attack",
    "train_adversary",
    "AdversaryCard",
    "ObservationAdversaryEnv",
    "ObservationAdversaryVectorEnv",
    "OptimalAttack",
    "TrainedAdversary",
    "VecObservationAdversary",
    "load_optimal_attack",
    "load_victim",
    "shipped_adversaries",
    "shipped_path",
    "train_optimal_attack",
    "victim_digest",
]
