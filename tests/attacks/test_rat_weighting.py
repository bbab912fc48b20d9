"""RAT's weighting maths against hand computations on tiny batches."""

import pytest
import torch as th

from advrl.attacks.learned.rat_weighting import Weighting, alignment, closeness, weighting_step


def test_closeness_is_minus_squared_distance():
    a = th.tensor([[1.0, 2.0], [0.0, 0.0]])
    b = th.tensor([[0.0, 0.0], [0.5, -1.0]])
    assert closeness(a, b).tolist() == [-5.0, -1.25]


def test_closeness_refuses_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        closeness(th.zeros(2, 3), th.zeros(2, 2))


def test_alignment_matches_per_sample_gradients():
    th.manual_seed(0)
    theta = th.randn(3, requires_grad=True)
    x = th.randn(4, 3)
    inner = (x @ theta - 1.0) ** 2  # l_i
    outer = (x.sum(0) @ theta).sin()
    h = alignment(inner, outer, [theta], lr=0.5)
    g_out = th.autograd.grad(outer, theta, retain_graph=True)[0]
    by_hand = []
    for i in range(4):
        g_i = th.autograd.grad(inner[i], theta, retain_graph=True)[0]
        by_hand.append(-0.5 / 4 * float(g_out @ g_i))
    assert h.tolist() == pytest.approx(by_hand, rel=1e-5)


def test_alignment_is_zero_when_outer_ignores_params():
    theta = th.ones(2, requires_grad=True)
    other = th.ones(1, requires_grad=True)
    h = alignment((theta * th.ones(3, 2)).sum(1), other.sum(), [theta, other], lr=1.0)
    assert h.tolist() == [0.0, 0.0, 0.0]


def test_weighting_range_and_step_by_hand():
    th.manual_seed(0)
    w = Weighting(2, hidden=(), lr=0.1)
    states = th.tensor([[1.0, 0.0], [0.0, 1.0]])
    h = th.tensor([1.0, -1.0])
    before = w(states).detach()
    assert bool(((before > 0) & (before < 2)).all())
    lin = w.net[0]
    weight0, bias0 = lin.weight.detach().clone(), lin.bias.detach().clone()
    loss = weighting_step(w, states, h)
    assert loss == pytest.approx(float((h * before).sum()))
    # Adam's first step moves every parameter by lr against its gradient's sign.
    z = states @ weight0.T + bias0  # (2, 1)
    dz = h[:, None] * (1 - th.tanh(z) ** 2)
    grad_w, grad_b = (dz * states).sum(0), dz.sum(0)
    assert lin.weight.detach()[0].tolist() == pytest.approx(
        (weight0[0] - 0.1 * grad_w.sign()).tolist(), abs=1e-6
    )
    assert lin.bias.detach().tolist() == pytest.approx((bias0 - 0.1 * grad_b.sign()).tolist())
    # Weight moves from states with h > 0 (the inner step hurts the outer goal) to h < 0.
    after = w(states).detach()
    assert float((h * after).sum()) < float((h * before).sum())


def test_weighting_checks_inputs():
    with pytest.raises(ValueError, match="obs_dim"):
        Weighting(0)
    with pytest.raises(ValueError, match="lr"):
        Weighting(2, lr=0.0)
    with pytest.raises(ValueError, match="h must have shape"):
        weighting_step(Weighting(2), th.zeros(3, 2), th.zeros(2))
