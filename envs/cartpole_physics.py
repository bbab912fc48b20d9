"""Gymnasium's CartPole-v1 dynamics as one batched function, for numpy or torch arrays.

The batched CartPoles of ACT (torch, :mod:`advrl.attacks.act.cartpole`) and BARFI (numpy,
:mod:`advrl.agents.barfi.cartpole`) both step with :func:`cartpole_step`, so there is one copy
of the equations; each is tested step for step against ``gym.make("CartPole-v1")``.
Constants and equations: ``gymnasium/envs/classic_control/cartpole.py`` (Euler integrator).
"""

from __future__ import annotations

import math
from typing import Any

GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
TOTAL_MASS = MASSPOLE + MASSCART
POLEMASS_LENGTH = MASSPOLE * LENGTH
THETA_LIMIT = 12 * 2 * math.pi / 360  # radians; the episode ends beyond it
X_LIMIT = 2.4


def _ops(state: Any):
    """``(cos, sin, where, stack)`` of the array library ``state`` belongs to."""
    import numpy as np

    if isinstance(state, np.ndarray):
        return np.cos, np.sin, np.where, lambda xs: np.stack(xs, axis=-1)
    import torch as th

    return th.cos, th.sin, th.where, lambda xs: th.stack(xs, dim=-1)


def cartpole_step(state: Any, action: Any) -> Any:
    """One Euler step of every CartPole in the batch.

    Args:
        state: ``(x, x_dot, theta, theta_dot)`` per env, shape (batch, 4) (numpy or torch;
            float64 matches gymnasium exactly).
        action: 0 (push left) or 1 (push right), shape (batch,).

    Returns:
        The next states, shape (batch, 4), same library and dtype as ``state``.

    Example:
        >>> import numpy as np
        >>> cartpole_step(np.zeros((1, 4)), np.array([1])).round(4).tolist()
        [[0.0, 0.1951, 0.0, -0.2927]]
    """
    cos_fn, sin_fn, where, stack = _ops(state)
    x, x_dot, theta, theta_dot = (state[..., i] for i in range(4))
    force = where(action == 1, FORCE_MAG, -FORCE_MAG)
    cos, sin = cos_fn(theta), sin_fn(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot**2 * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (
        LENGTH * (4.0 / 3.0 - MASSPOLE * cos**2 / TOTAL_MASS)
    )
    x_acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS
    return stack(
        [x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc]
    )


def cartpole_terminated(state: Any) -> Any:
    """Whether each CartPole has left the track or let the pole fall, shape (batch,)."""
    return (abs(state[..., 0]) > X_LIMIT) | (abs(state[..., 2]) > THETA_LIMIT)
