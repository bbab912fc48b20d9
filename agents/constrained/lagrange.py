"""Lagrange multipliers for composite rewards kept at or below their proxy points: pure maths.

The problem (Moskovitz et al. 2023, "Confronting Reward Model Overoptimization with
Constrained RLHF", Sec. 4): with component returns ``v_i(pi)`` and proxy points ``theta_i``,

    max_pi  sum_i v_i(pi)   s.t.  v_i(pi) <= theta_i   (sense "upper", the default)
                                  v_i(pi)  = theta_i   (sense "equal", the paper's All-PPO)

Its Lagrangian ``L(pi, mu) = sum_i v_i - sum_i mu_i (v_i - theta_i) = sum_i (1 - mu_i) v_i +
const`` is a weighted sum of the components, so the multipliers *are* the weighting: the
policy maximises the composite reward with weights ``w_i = 1 - mu_i``, and the dual descends
``L`` in ``mu`` (``dL/dmu_i = theta_i - v_i``: ``mu_i`` rises while component ``i`` is above
its proxy point and falls when it is below).

As in the authors' code, the multipliers are bounded by squashing a free parameter ``z``
(sigmoid for inequalities, tanh for equalities) and ``z`` takes SGD steps with momentum 0.1 on
``L`` with its gradient norm clipped. Where this differs from the reference: their objective
is a KL-to-the-pretrained-model reward with weight ``N - sum sigmoid(z)`` and the components
get ``sigmoid(z_i)`` under ``>=`` constraints (the KL pulls back); control tasks have no
pretrained model, so here the objective is the sum of the components themselves and the
bound ``mu_max`` (default 2) lets a weight turn negative (``1 - mu_i`` in ``(-1, 1)``), which
pushes an overshooting component back down instead of only ceasing to push it up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SENSES = ("upper", "equal")


def check_sense(sense: str) -> str:
    if sense not in SENSES:
        raise ValueError(f"unknown constraint sense {sense!r}; allowed: {list(SENSES)}")
    return sense


def multipliers(logits: np.ndarray, sense: str = "upper", bound: float = 2.0) -> np.ndarray:
    """``mu = bound * sigmoid(z)`` in ``(0, bound)`` (upper) or ``bound * tanh(z)`` in
    ``(-bound, bound)`` (equal).

    Example:
        >>> multipliers(np.array([0.0]), "upper", 2.0).tolist()
        [1.0]
    """
    z = np.asarray(logits, dtype=np.float64)
    if check_sense(sense) == "upper":
        return bound / (1.0 + np.exp(-z))
    return bound * np.tanh(z)


def logits_for(mu: float | Sequence[float], sense: str = "upper", bound: float = 2.0):
    """The inverse of :func:`multipliers`: the logits ``z`` whose multipliers are ``mu``
    (each strictly inside the sense's range, else a ``ValueError``).

    Example:
        >>> round(float(logits_for(1.0, "upper", 2.0)), 12)
        0.0
    """
    m = np.asarray(mu, dtype=np.float64)
    low = 0.0 if check_sense(sense) == "upper" else -bound
    if not (np.all(np.isfinite(m)) and np.all(m > low) and np.all(m < bound)):
        raise ValueError(f"multiplier init must lie strictly in ({low:g}, {bound:g}) for sense "
                         f"{sense!r}, got {mu!r}")  # fmt: skip
    if sense == "upper":
        return np.log(m / (bound - m))
    return np.arctanh(m / bound)


def component_weights(mu: np.ndarray) -> np.ndarray:
    """The composite reward's weights ``w_i = 1 - mu_i`` (the Lagrangian's coefficients).

    Example:
        >>> component_weights(np.array([0.0, 0.5, 1.5])).tolist()
        [1.0, 0.5, -0.5]
    """
    return 1.0 - np.asarray(mu, dtype=np.float64)


def multiplier_gradient(
    logits: np.ndarray, returns: np.ndarray, thresholds: np.ndarray, sense: str = "upper",
    bound: float = 2.0,
) -> np.ndarray:  # fmt: skip
    """``dL/dz`` for the dual descent: ``(theta - v) * dmu/dz`` (Sec. 4; descending it raises
    ``mu_i`` while ``v_i > theta_i``).

    Example:
        >>> multiplier_gradient(np.zeros(1), np.array([3.0]), np.array([1.0])).tolist()
        [-1.0]
    """
    z = np.asarray(logits, dtype=np.float64)
    if check_sense(sense) == "upper":
        s = 1.0 / (1.0 + np.exp(-z))
        dmu = bound * s * (1.0 - s)
    else:
        dmu = bound * (1.0 - np.tanh(z) ** 2)
    return (np.asarray(thresholds, np.float64) - np.asarray(returns, np.float64)) * dmu


def multiplier_step(
    logits: np.ndarray, velocity: np.ndarray, returns: np.ndarray, thresholds: np.ndarray, *,
    lr: float, sense: str = "upper", bound: float = 2.0, momentum: float = 0.1,
    max_grad_norm: float | None = 0.5,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One SGD-with-momentum step of the logits on the Lagrangian (torch's SGD convention:
    ``b <- momentum * b + g``, ``z <- z - lr * b``), the gradient's norm first clipped to
    ``max_grad_norm`` (None: no clip), as the reference does. Returns ``(logits, velocity)``.

    Components whose return is NaN (no episode finished) get a zero gradient.

    Example:
        >>> z, b = multiplier_step(np.zeros(1), np.zeros(1), np.array([3.0]), np.array([1.0]),
        ...                        lr=0.1)
        >>> z.tolist(), b.tolist()  # gradient -1 clipped to norm 0.5
        ([0.05], [-0.5])
    """
    check_step_settings(lr, momentum, max_grad_norm)
    returns = np.asarray(returns, dtype=np.float64)
    grad = multiplier_gradient(logits, np.where(np.isnan(returns), thresholds, returns),
                               thresholds, sense, bound)  # fmt: skip
    norm = float(np.linalg.norm(grad))
    if max_grad_norm is not None and norm > max_grad_norm:
        grad = grad * (max_grad_norm / norm)
    velocity = momentum * np.asarray(velocity, np.float64) + grad
    return np.asarray(logits, np.float64) - lr * velocity, velocity


def check_step_settings(lr: float, momentum: float, max_grad_norm: float | None) -> None:
    """``ValueError`` unless ``lr >= 0``, ``momentum`` in ``[0, 1)`` and ``max_grad_norm``
    None or > 0 (all finite)."""
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"multiplier learning rate must be a finite number >= 0, got {lr!r}")
    if not (isinstance(momentum, int | float) and 0 <= momentum < 1):
        raise ValueError(f"multiplier momentum must be in [0, 1), got {momentum!r}")
    if max_grad_norm is not None and not (math.isfinite(max_grad_norm) and max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be None or a finite number > 0, got "
                         f"{max_grad_norm!r}")  # fmt: skip
