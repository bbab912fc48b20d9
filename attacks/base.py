"""The attack base class: budget validation and the input/output contract."""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch as th

from advrl.attacks.balls import NORMS, project
from advrl.policies import check_obs_batch, check_policy
from advrl.types import Norm, ObservationAttack, TorchPolicy

HEADROOM = 16.0
"""Lengths (eps, step sizes, noise scales) are kept this far below overflow: before the
projection an iterate or a noise draw reaches a few of them (a PGD step past the ball's edge,
a Gaussian tail), and l2 norms square them."""


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def check_real(
    value: Any, name: str, allowed: str, valid: Callable[[float], bool] = lambda _: True
) -> float:
    """``float(value)`` for a finite real number (not a bool) that ``valid`` accepts.

    Raises:
        TypeError: not a real number; ValueError: non-finite or not ``valid``. Both say
        ``"{name} must be {allowed}, got ..."``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {allowed}, got {_got(value)}")
    number = float(value)
    if not (math.isfinite(number) and valid(number)):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return number


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """``int(value)`` for an integer (not a bool, not a float) ``>= minimum``."""
    allowed = f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {allowed}, got {_got(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_positive_int(value: Any, name: str) -> int:
    """``int(value)`` for an integer >= 1 (step counts, episode counts)."""
    return check_int(value, name, minimum=1)


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is True or False (a truthy string such as ``"no"`` is refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_got(value)}")
    return value


@lru_cache(maxsize=64)
def max_length(dtype: th.dtype, norm: Norm, dim: int) -> float:
    """Largest eps (or step size, noise scale) whose perturbations of ``dim`` coordinates,
    and their ``norm``, stay finite in ``dtype`` with :data:`HEADROOM` to spare."""
    largest = th.finfo(dtype).max
    if norm == "linf":
        return largest / HEADROOM
    return math.sqrt(largest / max(dim, 1)) / HEADROOM


def check_length(value: float, name: str, norm: Norm, dtype: th.dtype, dim: int) -> None:
    """Refuse a length whose perturbations would overflow ``dtype`` observations."""
    limit = max_length(dtype, norm, dim)
    if value > limit:
        where = f" observations of {dim} coordinates" if norm == "l2" else " observations"
        raise ValueError(
            f"{name}={value:g} is too large for {dtype}{where} under {norm}: the attack's "
            f"perturbations would overflow; allowed: {name} <= {limit:.3g}"
        )


def check_budget(eps: Any, norm: Any) -> tuple[float, Norm]:
    """Validate an attack budget; returns ``(float(eps), norm)``."""
    eps = check_real(eps, "eps", "a finite number >= 0", lambda e: e >= 0)
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; allowed: {list(NORMS)}")
    check_length(eps, "eps", norm, th.float64, 1)  # the widest dtype: no batch can hold more
    return eps, norm


def check_generator(generator: Any) -> None:
    """Refuse anything but a ``torch.Generator`` or None (an int seed says how to build one)."""
    if generator is not None and not isinstance(generator, th.Generator):
        hint = f"{generator}" if isinstance(generator, int) else "n"
        raise TypeError(
            f"generator must be a torch.Generator or None, got {_got(generator)}; "
            f"for a seed pass th.Generator().manual_seed({hint})"
        )


def check_attack(attack: Any, allow_none: bool = False) -> ObservationAttack:
    """Refuse anything but an attack object (a name needs :func:`advrl.attacks.make_attack`);
    ``allow_none`` where None means "no attack" (clean evaluation)."""
    allowed = "an ObservationAttack or None" if allow_none else "an ObservationAttack"
    if attack is None and allow_none:
        return attack
    if isinstance(attack, str):
        raise TypeError(
            f"attack must be {allowed}, got the string {attack!r}; "
            f"build one with make_attack({attack!r}, eps=...) from advrl.attacks"
        )
    if not isinstance(attack, ObservationAttack):
        raise TypeError(
            f"attack must be {allowed} (e.g. advrl.attacks.PGD(eps=0.1)), got {_got(attack)}"
        )
    return attack


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

    def lengths(self) -> dict[str, float]:
        """The sizes this attack moves by (eps; subclasses add step sizes, noise scales)."""
        return {"eps": self.eps}

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

        Raises:
            TypeError: ``policy`` is not a TorchPolicy, ``generator`` not a torch.Generator.
            ValueError: a batch that does not fit the policy, or a budget its dtype cannot
                hold (a float32 batch overflows long before float64 does).
        """
        check_policy(policy)
        check_generator(generator)
        check_obs_batch(obs, policy.observation_space)
        dim = math.prod(obs.shape[1:])
        for name, length in self.lengths().items():
            check_length(length, name, self.norm, obs.dtype, dim)
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
