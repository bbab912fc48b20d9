"""Proxy points from data: the component-reward values past which more of a component stops
buying gold (true) return.

Moskovitz et al. (2023, Sec. 3) find them from unconstrained runs: record, along each run,
the gold score and every component reward's value; fit the gold score as a smooth
(polynomial) function of the component values and take the component values where the fit
peaks. Because the components are correlated, the *joint* proxy point (all components
together, ``joint=True``) differs from each component's own (``joint=False``: gold against
that component alone), which is one of the paper's findings.

The maximum is searched over the observed points and, when the quadratic fit is concave,
its stationary point if that lies within the observed range of every component: the fit
is never trusted outside the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ProxyPoints:
    """Where the fitted gold return peaks.

    Attributes:
        names: the components, in column order.
        values: each component's proxy point, shape ``(k,)``.
        gold: the fitted gold return there.
    """

    names: tuple[str, ...]
    values: np.ndarray
    gold: float

    def as_dict(self) -> dict[str, float]:
        """``{name: proxy point}``, what :class:`ConstrainedPPO` takes as thresholds."""
        return {n: float(v) for n, v in zip(self.names, self.values, strict=True)}


def _features(x: np.ndarray, degree: int) -> np.ndarray:
    """All monomials of the columns of ``x`` up to total ``degree`` (the constant first)."""
    cols = [np.ones(len(x))]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(x.shape[1]), d):
            cols.append(np.prod(x[:, combo], axis=1))
    return np.column_stack(cols)


def _fit_peak(x: np.ndarray, gold: np.ndarray, degree: int) -> tuple[np.ndarray, float]:
    """The point of the observed box where the least-squares polynomial of ``gold`` on ``x``
    is highest: among the observed points and (degree 2, concave) the stationary point."""
    centre, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)  # standardised: a well-conditioned fit
    u = (x - centre) / scale
    coef, *_ = np.linalg.lstsq(_features(u, degree), gold, rcond=None)
    candidates = [u]
    if degree == 2:
        k = x.shape[1]
        lin, hess = coef[1 : 1 + k], np.zeros((k, k))
        for c, (i, j) in zip(coef[1 + k :], itertools.combinations_with_replacement(range(k), 2),
                             strict=True):  # fmt: skip
            hess[i, j] += c if i != j else 2 * c
            hess[j, i] = hess[i, j]
        if np.all(np.linalg.eigvalsh(hess) < 0):
            stationary = np.linalg.solve(hess, -lin)
            if np.all(stationary >= u.min(axis=0)) and np.all(stationary <= u.max(axis=0)):
                candidates.append(stationary[None])
    points = np.concatenate(candidates)
    fitted = _features(points, degree) @ coef
    best = int(np.argmax(fitted))
    return points[best] * scale + centre, float(fitted[best])


def find_proxy_points(
    values: np.ndarray | Sequence[Sequence[float]], gold: np.ndarray | Sequence[float],
    names: Sequence[str], *, degree: int = 2, joint: bool = True,
) -> ProxyPoints:  # fmt: skip
    """Proxy points of ``k`` components from ``n`` observations of unconstrained runs.

    Args:
        values: component values (e.g. episode returns under each component reward), shape
            ``(n, k)``, one row per observation (a point on a training curve).
        gold: the gold (true) return of each observation, shape ``(n,)``.
        names: the components' names, ``k`` of them.
        degree: the polynomial's total degree (2: the paper's quadratic surface).
        joint: fit gold on all components together (True) or on each one alone.

    Example:
        >>> v = np.linspace(0, 4, 9)[:, None]  # gold peaks where the component is 3
        >>> find_proxy_points(v, -(v[:, 0] - 3) ** 2, ["forward"]).as_dict()
        {'forward': 3.0}
    """
    x, y = np.asarray(values, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    names = tuple(names)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"values must have shape (n, k) and gold (n,), got {x.shape} and "
                         f"{y.shape}")  # fmt: skip
    if len(names) != x.shape[1]:
        raise ValueError(f"got {len(names)} names {list(names)} for {x.shape[1]} components")
    if not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
    n_terms = _features(np.zeros((1, x.shape[1] if joint else 1)), degree).shape[1]
    if len(x) < n_terms:
        raise ValueError(f"a degree-{degree} fit needs at least {n_terms} observations, got "
                         f"{len(x)}")  # fmt: skip
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("values and gold must be finite")
    if joint:
        point, fitted = _fit_peak(x, y, degree)
        return ProxyPoints(names, point, fitted)
    peaks = [_fit_peak(x[:, [i]], y, degree) for i in range(x.shape[1])]
    return ProxyPoints(names, np.array([p[0][0] for p in peaks]),
                       float(max(p[1] for p in peaks)))  # fmt: skip
