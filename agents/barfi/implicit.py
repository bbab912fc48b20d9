"""Implicit gradients of a bi-level problem with a Neumann-series inverse Hessian.

Pure maths, no RL plumbing (DESIGN.md section 3). BARFI (Gupta et al., NeurIPS 2023, Sec. 4)
learns reward parameters ``phi`` so that the policy ``theta*(phi)`` that *maximises* the inner
objective ``J_inner(theta, phi)`` also maximises the outer objective ``J_outer(theta)``.

Sign convention (maximisation). At an inner optimum ``g(theta*, phi) = grad_theta J_inner = 0``.
Differentiating this identity in ``phi`` (implicit function theorem) gives
``d theta*/d phi = -H^-1 grad_phi g`` with ``H = grad^2_theta J_inner``, hence

    dJ_outer/dphi = -(grad_phi g)^T H^-1 grad_theta J_outer.

At a maximum ``H`` is negative definite, so we write ``A = -H`` (positive definite) and
``dJ_outer/dphi = (grad_phi g)^T A^-1 v`` with ``v = grad_theta J_outer``. ``A^-1 v`` is
approximated by the Neumann series (Lorraine et al. 2020)

    A^-1 v ~= alpha * sum_{k=0}^{K} (I - alpha A)^k v,

which converges as ``K -> inf`` when every eigenvalue of ``A`` lies in ``(0, 2 / alpha)``.
For an inner *minimisation* (``maximise=False``) ``A = H`` and the product is negated. Either
way the result is the total derivative ``dJ_outer/dphi``: ascend it to maximise ``J_outer``
(BARFI: the primary return), descend it to minimise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch as th

Tensors = Sequence[th.Tensor]


def check_neumann_args(terms: int, alpha: float) -> None:
    """Raise a clear error unless ``terms`` is an int >= 0 and ``alpha`` a finite number > 0."""
    if isinstance(terms, bool) or not isinstance(terms, int) or terms < 0:
        raise ValueError(f"terms must be an int >= 0 (number of Neumann terms), got {terms!r}")
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, int | float)
        or not math.isfinite(alpha)
        or alpha <= 0
    ):
        raise ValueError(f"alpha must be a finite number > 0 (Neumann step size), got {alpha!r}")


def _check_like(vs: Tensors, params: Tensors, what: str) -> None:
    if len(vs) != len(params):
        raise ValueError(f"{what} has {len(vs)} tensors but there are {len(params)} parameters")
    for i, (v, p) in enumerate(zip(vs, params, strict=True)):
        if v.shape != p.shape:
            raise ValueError(
                f"{what}[{i}] has shape {tuple(v.shape)}, its parameter has {tuple(p.shape)}"
            )


def _dot(xs: Tensors, ys: Tensors) -> th.Tensor:
    return sum((x * y).sum() for x, y in zip(xs, ys, strict=True))  # type: ignore[return-value]


def hvp_fn(grads: Tensors, params: Tensors) -> Callable[[Tensors], list[th.Tensor]]:
    """Hessian-vector products ``u -> H u`` from gradients built with ``create_graph=True``.

    Args:
        grads: ``grad_theta J`` for each parameter, still attached to the graph.
        params: the parameters ``theta`` (same order and shapes as ``grads``).

    Returns:
        A function mapping tensors shaped like ``params`` to ``H u`` (detached), where ``H`` is
        the Hessian of ``J`` in ``theta``. The graph is retained so it can be called repeatedly.
    """
    _check_like(grads, params, "grads")

    def hvp(u: Tensors) -> list[th.Tensor]:
        _check_like(u, params, "vector")
        out = th.autograd.grad(
            grads, params, grad_outputs=list(u), retain_graph=True, allow_unused=True
        )
        pairs = zip(out, params, strict=True)
        return [th.zeros_like(p) if o is None else o.detach() for o, p in pairs]

    return hvp


def neumann_inverse(
    matvec: Callable[[Tensors], Sequence[th.Tensor]], v: Tensors, terms: int, alpha: float
) -> list[th.Tensor]:
    """``A^-1 v ~= alpha * sum_{k=0}^{terms} (I - alpha A)^k v`` for positive definite ``A``.

    Args:
        matvec: ``u -> A u`` on lists of tensors shaped like ``v``.
        v: the vector (a list of tensors, e.g. one per parameter).
        terms: ``K`` >= 0; ``K = 0`` gives ``alpha * v``.
        alpha: step size > 0; the series converges iff the eigenvalues of ``alpha A`` lie in
            ``(0, 2)``.

    Example:
        >>> a = th.tensor([[2.0, 0.0], [0.0, 4.0]])
        >>> x = neumann_inverse(lambda u: [a @ u[0]], [th.ones(2)], terms=200, alpha=0.2)
        >>> x[0]
        tensor([0.5000, 0.2500])
    """
    check_neumann_args(terms, alpha)
    term = [t.detach().clone() for t in v]  # (I - alpha A)^k v, starting at k = 0
    total = [t.clone() for t in term]
    for _ in range(terms):
        a_term = list(matvec(term))
        _check_like(a_term, term, "matvec(u)")
        term = [t - alpha * at for t, at in zip(term, a_term, strict=True)]
        total = [s + t for s, t in zip(total, term, strict=True)]
    return [alpha * s for s in total]


def spectral_radius(
    matvec: Callable[[Tensors], Sequence[th.Tensor]], v0: Tensors, iters: int = 5
) -> float:
    """Power-iteration estimate of the largest ``|eigenvalue|`` of a symmetric ``A``.

    Starts from ``v0`` (BARFI: the vector to be inverted, so the estimate covers the
    directions that matter); an underestimate for few ``iters``.

    Example:
        >>> a = th.diag(th.tensor([1.0, -3.0]))
        >>> round(spectral_radius(lambda u: [a @ u[0]], [th.ones(2)], iters=50), 3)
        3.0
    """
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be an int >= 1, got {iters!r}")
    norm = math.sqrt(sum(float((t.detach() ** 2).sum()) for t in v0))
    if norm == 0.0:
        return 0.0
    u = [t.detach() / norm for t in v0]
    estimate = 0.0
    for _ in range(iters):
        au = list(matvec(u))
        estimate = math.sqrt(sum(float((t**2).sum()) for t in au))
        if estimate == 0.0 or not math.isfinite(estimate):
            break
        u = [t / estimate for t in au]
    return estimate


def implicit_gradient(
    inner: th.Tensor,
    outer_grad: Tensors,
    theta: Tensors,
    phi: Tensors,
    terms: int = 5,
    alpha: float | None = 0.1,
    maximise: bool = True,
    power_iters: int = 5,
) -> list[th.Tensor]:
    """The implicit gradient ``dJ_outer/dphi`` through the inner optimum ``theta*(phi)``.

    ``dJ_outer/dphi = -(grad_phi grad_theta J_inner)^T [grad^2_theta J_inner]^-1 v`` with
    ``v = grad_theta J_outer`` (module docstring for the sign convention), the inverse Hessian
    applied by a ``terms``-term Neumann series to ``A = -H`` (``maximise=True``) or ``A = H``.

    Args:
        inner: scalar ``J_inner(theta, phi)``, differentiable in both (graph not freed).
        outer_grad: ``grad_theta J_outer`` at the same ``theta`` (one tensor per ``theta``).
        theta: inner parameters.
        phi: outer parameters.
        terms: Neumann terms ``K`` >= 0 (BARFI uses 5).
        alpha: Neumann step size > 0, or ``None`` for ``0.5 / rho`` with ``rho`` a
            power-iteration estimate of the Hessian's spectral radius, so that
            ``|1 - alpha * lambda| <= 1.5`` on every eigenvalue. A REINFORCE surrogate's Hessian
            grows by orders of magnitude as episodes lengthen, so a fixed ``alpha`` either
            diverges late or does nothing early.
        maximise: ``True`` when the inner problem is a maximisation (BARFI: a return).
        power_iters: Hessian-vector products spent on the estimate when ``alpha`` is ``None``.

    Returns:
        One tensor per ``phi`` (detached), the approximate total derivative of ``J_outer``.

    Example:
        >>> theta, phi = th.zeros(1, requires_grad=True), th.ones(1, requires_grad=True)
        >>> inner = -(theta - 2 * phi).pow(2).sum()  # theta*(phi) = 2 phi
        >>> g = implicit_gradient(inner, [th.ones(1)], [theta], [phi], terms=50, alpha=0.25)
        >>> round(g[0].item(), 4)  # d theta*/d phi = 2, times dJ_outer/dtheta = 1
        2.0
    """
    check_neumann_args(terms, 1.0 if alpha is None else alpha)
    if inner.dim() != 0:
        raise ValueError(f"inner must be a scalar objective, got shape {tuple(inner.shape)}")
    theta, phi = list(theta), list(phi)
    _check_like(outer_grad, theta, "outer_grad")
    grads = th.autograd.grad(inner, theta, create_graph=True)
    hvp = hvp_fn(grads, theta)
    sign = -1.0 if maximise else 1.0
    if alpha is None:
        rho = spectral_radius(hvp, outer_grad, power_iters)
        alpha = 0.5 / rho if rho > 0 and math.isfinite(rho) else 1.0
    # A = -H for a maximisation so that A is positive definite near the optimum.
    p = neumann_inverse(lambda u: [sign * h for h in hvp(u)], outer_grad, terms, alpha)
    # (grad_phi g)^T p = grad_phi (g . p), one backward pass instead of a Jacobian.
    mixed = th.autograd.grad(_dot(grads, p), phi, retain_graph=True, allow_unused=True)
    out = [th.zeros_like(f) if m is None else m.detach() for m, f in zip(mixed, phi, strict=True)]
    # maximise: dJ/dphi = (grad_phi g)^T A^-1 v; minimise: -(grad_phi g)^T H^-1 v.
    return out if maximise else [-m for m in out]
