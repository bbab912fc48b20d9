"""The attack base class: budget validation and the input/output contract."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch as th

from advrl.attacks.balls import NORMS, project
from advrl.policies import check_obs_batch
from advrl.types import Norm, TorchPolicy


def check_budget(eps: float, norm: str) -> tuple[float, Norm]:
    """Validate an attack budget; returns ``(float(eps), norm)``."""
    if isinstance(eps, bool) or not isinstance(eps, int | float):
        raise TypeError(f"eps must be a real number, got {eps!r}")
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; allowed: {list(NORMS)}")
    return float(eps), norm  # type: ignore[return-value]  # narrowed by the check above


def check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class Attack(ABC):
    """Base class of observation attacks (see :class:`advrl.types.ObservationAttack`).

    Subclasses implement :meth:`perturb`; ``__call__`` validates the batch, runs it, and
    projects the result back onto the ball so every output respects the budget.

    Args:
        eps: radius of the perturbation ball, >= 0 (0 returns the input unchanged).
        norm: ``"linf"`` or ``"l2"``, per sample.
    """

    name = "attack"
    needs_gradients = True

    def __init__(self, eps: float, norm: Norm = "linf") -> None:
        self.eps, self.norm = check_budget(eps, norm)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eps={self.eps}, norm={self.norm!r})"

    # Attacks are configurations: equal settings are the same attack (env specs compare
    # wrapper kwargs when an env is rebuilt from its spec).
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))

    def __call__(
        self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None = None
    ) -> th.Tensor:
        """Attack a batch.

        Args:
            obs: clean observations, shape (batch, *obs_shape), in ``policy``'s input space.
            policy: the victim.
            generator: source of all randomness (pass a seeded one for reproducibility).

        Returns:
            Perturbed observations, same shape and dtype, within ``eps`` of ``obs``.
        """
        check_obs_batch(obs, policy.observation_space)
        if self.eps == 0.0 or obs.shape[0] == 0:
            return obs.clone()
        obs = obs.detach()
        adv = self.perturb(obs, policy, generator)
        return (obs + project(adv - obs, self.eps, self.norm)).to(obs.dtype)

    @abstractmethod
    def perturb(
        self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None
    ) -> th.Tensor:
        """Return adversarial observations (projected onto the ball by ``__call__``)."""
