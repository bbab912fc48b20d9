"""Neumann-series implicit gradients vs the exact ones on a quadratic bi-level problem."""

import pytest
import torch as th

from advrl.agents.barfi.implicit import (
    hvp_fn,
    implicit_gradient,
    neumann_inverse,
    spectral_radius,
)

F64 = th.float64


def quadratic(seed=0, n=4, m=3):
    """Inner J(theta, phi) = -1/2 theta^T A theta + theta^T B tanh(phi) + |phi|^2 (maximised),
    so theta*(phi) = A^-1 B tanh(phi); outer J_o(theta) = -1/2 |theta - t|^2."""
    g = th.Generator().manual_seed(seed)
    q = th.randn(n, n, generator=g, dtype=th.float64)
    a = q @ q.T + n * th.eye(n, dtype=th.float64)  # positive definite
    b = th.randn(n, m, generator=g, dtype=th.float64)
    t = th.randn(n, generator=g, dtype=th.float64)
    phi = th.randn(m, generator=g, dtype=th.float64)
    return a, b, t, phi


def exact_gradient(a, b, t, phi):
    # d theta*/d phi = A^-1 B diag(1 - tanh^2 phi); dJ_o/dtheta = t - theta*.
    theta_star = th.linalg.solve(a, b @ th.tanh(phi))
    jac = th.linalg.solve(a, b) * (1 - th.tanh(phi) ** 2)
    return jac.T @ (t - theta_star), theta_star


def neumann_gradient(a, b, t, phi, terms, alpha, maximise=True):
    _, theta_star = exact_gradient(a, b, t, phi)
    theta = theta_star.clone().requires_grad_(True)
    phi = phi.clone().requires_grad_(True)
    inner = -0.5 * theta @ a @ theta + theta @ b @ th.tanh(phi) + phi.pow(2).sum()
    if not maximise:
        inner = -inner
    outer_grad = [(t - theta).detach()]
    return implicit_gradient(inner, outer_grad, [theta], [phi], terms, alpha, maximise)[0]


def test_exact_formula_matches_finite_differences():
    a, b, t, phi = quadratic()
    exact, _ = exact_gradient(a, b, t, phi)

    def outer(p):
        theta = th.linalg.solve(a, b @ th.tanh(p))
        return -0.5 * (theta - t).pow(2).sum()

    eps = 1e-6
    basis = th.eye(3, dtype=F64)
    fd = th.stack([(outer(phi + eps * e) - outer(phi - eps * e)) / (2 * eps) for e in basis])
    assert th.allclose(exact, fd, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neumann_implicit_gradient_matches_exact(seed):
    a, b, t, phi = quadratic(seed)
    exact, _ = exact_gradient(a, b, t, phi)
    alpha = 1.0 / th.linalg.eigvalsh(a).max().item()
    approx = neumann_gradient(a, b, t, phi, terms=400, alpha=alpha)
    assert th.allclose(approx, exact, rtol=1e-6, atol=1e-8)


def test_error_shrinks_as_terms_grow():
    a, b, t, phi = quadratic(3)
    exact, _ = exact_gradient(a, b, t, phi)
    alpha = 1.0 / th.linalg.eigvalsh(a).max().item()
    errors = [
        (neumann_gradient(a, b, t, phi, k, alpha) - exact).norm().item()
        for k in (0, 1, 2, 5, 20, 100)
    ]
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 1e-3 * errors[0]


def test_minimisation_convention_gives_the_same_total_derivative():
    a, b, t, phi = quadratic(4)
    alpha = 1.0 / th.linalg.eigvalsh(a).max().item()
    up = neumann_gradient(a, b, t, phi, 300, alpha, maximise=True)
    down = neumann_gradient(a, b, t, phi, 300, alpha, maximise=False)
    assert th.allclose(up, down, atol=1e-10)
    assert th.allclose(up, exact_gradient(a, b, t, phi)[0], atol=1e-8)


def test_auto_alpha_converges_without_knowing_the_spectrum():
    a, b, t, phi = quadratic(5)
    a = 1000.0 * a  # a fixed alpha of 0.1 would diverge here
    exact, _ = exact_gradient(a, b, t, phi)
    approx = neumann_gradient(a, b, t, phi, terms=400, alpha=None)
    assert th.allclose(approx, exact, rtol=1e-4, atol=1e-10)
    diverged = neumann_gradient(a, b, t, phi, terms=5, alpha=0.1)
    assert (diverged - exact).norm() > 1e3 * exact.norm()


def test_hvp_and_neumann_inverse_against_dense_algebra():
    a, *_ = quadratic(6)
    theta = th.randn(4, dtype=F64, requires_grad=True)
    grads = th.autograd.grad(0.5 * theta @ a @ theta, [theta], create_graph=True)
    hvp = hvp_fn(grads, [theta])
    u = th.randn(4, dtype=F64)
    assert th.allclose(hvp([u])[0], a @ u)
    rho = spectral_radius(hvp, [u], iters=200)
    assert rho == pytest.approx(th.linalg.eigvalsh(a).max().item(), rel=1e-6)
    # K = 2 by hand: alpha (v + (I - aA) v + (I - aA)^2 v)
    alpha, m = 0.01, th.eye(4, dtype=F64) - 0.01 * a
    by_hand = alpha * (u + m @ u + m @ m @ u)
    assert th.allclose(neumann_inverse(hvp, [u], 2, alpha)[0], by_hand)


@pytest.mark.parametrize(
    ("terms", "alpha", "match"),
    [
        (-1, 0.1, "terms must be an int >= 0.*-1"),
        (2.5, 0.1, "terms must be an int >= 0.*2.5"),
        (5, -0.1, "alpha must be a finite number > 0.*-0.1"),
        (5, 0.0, "alpha must be a finite number > 0"),
        (5, float("nan"), "alpha must be a finite number > 0.*nan"),
    ],
)
def test_bad_neumann_arguments(terms, alpha, match):
    with pytest.raises(ValueError, match=match):
        neumann_inverse(lambda u: u, [th.ones(2)], terms, alpha)
    theta, phi = th.zeros(2, requires_grad=True), th.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        implicit_gradient((theta * phi).sum(), [th.ones(2)], [theta], [phi], terms, alpha)


def test_mismatched_shapes_are_clear_errors():
    theta, phi = th.zeros(3, requires_grad=True), th.zeros(1, requires_grad=True)
    inner = (theta * phi).sum()
    with pytest.raises(ValueError, match=r"outer_grad\[0\] has shape \(2,\).*\(3,\)"):
        implicit_gradient(inner, [th.ones(2)], [theta], [phi])
    with pytest.raises(ValueError, match="outer_grad has 2 tensors but there are 1"):
        implicit_gradient(inner, [th.ones(3), th.ones(3)], [theta], [phi])
    with pytest.raises(ValueError, match="inner must be a scalar"):
        implicit_gradient(theta * phi, [th.ones(3)], [theta], [phi])
    grads = th.autograd.grad((theta**2).sum(), [theta], create_graph=True)
    with pytest.raises(ValueError, match=r"vector\[0\] has shape \(4,\)"):
        hvp_fn(grads, [theta])([th.ones(4)])
