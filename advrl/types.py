"""Protocols and aliases shared by every advrl module.

These are the seams the pillars plug into: attacks consume a :class:`TorchPolicy`, wrappers
consume an :class:`ObservationAttack`, reward wrappers consume a :class:`RewardFn`.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch as th

Norm = Literal["linf", "l2"]
"""Perturbation norms: ``"linf"`` (max-abs per sample) or ``"l2"`` (Euclidean per sample)."""

AttackSpace = Literal["normalized", "raw"]
"""Where an attack budget lives: the policy's normalised input space or the raw env space."""


@runtime_checkable
class TorchPolicy(Protocol):
    """A victim seen as differentiable torch functions of its (policy-space) observation.

    Every method takes ``obs: shape (batch, *obs_shape)`` in the policy's input space, i.e.
    *after* observation normalisation; :meth:`normalize` / :meth:`unnormalize` convert from and
    to the raw env space (identities when the policy has no normaliser). Built for SB3 models
    by :func:`advrl.policies.from_sb3`.
    """

    observation_space: gym.spaces.Box
    action_space: gym.spaces.Space
    device: th.device

    @property
    def is_discrete(self) -> bool:
        """True for ``Discrete`` action spaces."""
        ...

    def normalize(self, raw_obs: th.Tensor) -> th.Tensor:
        """Raw env observations -> policy input space."""
        ...

    def unnormalize(self, obs: th.Tensor) -> th.Tensor:
        """Policy input space -> raw env observations (inverse of :meth:`normalize`)."""
        ...

    def action(self, obs: th.Tensor) -> th.Tensor:
        """Deterministic action. Continuous: shape (batch, act_dim), differentiable, before
        clipping to the action bounds. Discrete: shape (batch,), int64, not differentiable."""
        ...

    def action_logits(self, obs: th.Tensor) -> th.Tensor | None:
        """Discrete policies: unnormalised log-probabilities (DQN: Q-values), shape
        (batch, n_actions). None for continuous policies."""
        ...

    def action_std(self, obs: th.Tensor) -> th.Tensor | None:
        """Stochastic continuous policies: per-dimension std, shape (batch, act_dim).
        None for deterministic actors and discrete policies."""
        ...

    def value(self, obs: th.Tensor) -> th.Tensor | None:
        """The victim's own value estimate, shape (batch,): V(s) for actor-critics,
        Q(s, mu(s)) for SAC/TD3, max_a Q(s, a) for DQN. None if the model has no critic."""
        ...


@runtime_checkable
class ObservationAttack(Protocol):
    """A pure, batched observation attack; the budget is fixed at construction.

    ``attack(obs, policy, generator)`` returns perturbed observations of the same shape and
    dtype, inside the attack's ball around ``obs``. ``obs`` lives in the same space as
    ``policy``'s inputs. All randomness comes from ``generator``.
    """

    eps: float
    norm: Norm

    def __call__(
        self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None = None
    ) -> th.Tensor: ...


@runtime_checkable
class RewardFn(Protocol):
    """A reward computed from one transition (used by proxy and learned reward wrappers).

    Returns a finite scalar for ``(obs, action, next_obs, info)``.
    """

    def __call__(
        self, obs: np.ndarray, action: Any, next_obs: np.ndarray, info: dict[str, Any]
    ) -> float: ...
