"""AlignmentReward: r_phi, gamma_phi and the L2 penalty against hand computations."""

import math

import pytest
import torch as th

from advrl.agents.barfi.alignment import AlignmentReward


def test_reward_is_the_naive_sum_at_init_and_gamma_is_sigmoid_w0():
    r = AlignmentReward(obs_dim=3)
    obs = th.randn(5, 3)
    r_p, r_aux = th.randn(5), th.randn(5)
    assert th.allclose(r(obs, r_p, r_aux), r_p + r_aux)
    assert r.gamma.item() == pytest.approx(1 / (1 + math.exp(-4.6)))
    assert r.penalty().item() == 0.0


def test_state_dependent_phi_by_hand():
    r = AlignmentReward(obs_dim=2, obs_scale=(2.0, 4.0), init=(0.5, 1.0, -1.0))
    with th.no_grad():
        r.weight.copy_(th.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]]))
    obs = th.tensor([[2.0, -4.0]])
    f = [math.tanh(1.0), math.tanh(-1.0)]  # tanh(obs / scale)
    phi1 = 0.5 + f[0]
    phi2 = 1.0 + 2 * f[1]
    phi3 = -1.0 + 3 * f[0] - f[1]
    expected = phi1 + phi2 * 3.0 + phi3 * (-2.0)
    out = r(obs, th.tensor([3.0]), th.tensor([-2.0]))
    assert out.item() == pytest.approx(expected, rel=1e-6)
    assert r.phi(obs)[0].tolist() == pytest.approx([phi1, phi2, phi3], rel=1e-6)


def test_batched_shapes_and_gradients_reach_every_parameter():
    r = AlignmentReward(obs_dim=4)
    obs = th.randn(7, 3, 4)
    out = r(obs, th.ones(7, 3), th.ones(7, 3))
    assert out.shape == (7, 3)
    (out.sum() + r.gamma).backward()
    assert all(p.grad is not None for p in r.parameters())


def test_penalty_by_hand():
    r = AlignmentReward(obs_dim=2, l2_phi=0.5, l2_gamma=2.0, w0=0.0)
    with th.no_grad():
        r.weight.fill_(1.0)  # 6 entries of 1
        r.bias.add_(th.tensor([0.0, 1.0, -2.0]))  # deviation (0, 1, -2)
        r.w.fill_(math.log(3.0))  # gamma = 0.75, gamma_0 = 0.5
    expected = 0.5 * (6 + 1 + 4) + 2.0 * 0.25**2
    assert r.penalty().item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs_dim": 0}, "obs_dim must be an int >= 1, got 0"),
        ({"obs_dim": 2, "obs_scale": (1.0, 2.0, 3.0)}, "obs_scale must be > 0"),
        ({"obs_dim": 2, "obs_scale": -1.0}, "obs_scale must be > 0"),
        ({"obs_dim": 2, "init": (1.0, 2.0)}, "init must be"),
        ({"obs_dim": 2, "l2_phi": -0.1}, "l2_phi must be a finite number >= 0, got -0.1"),
        ({"obs_dim": 2, "l2_gamma": float("inf")}, "l2_gamma must be a finite number"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlignmentReward(**kwargs)


def test_mismatched_shapes_are_clear_errors():
    r = AlignmentReward(obs_dim=3)
    with pytest.raises(ValueError, match=r"obs must have shape \(\.\.\., 3\), got \(5, 2\)"):
        r(th.zeros(5, 2), th.zeros(5), th.zeros(5))
    with pytest.raises(ValueError, match=r"r_p \(4,\) and r_aux \(5,\)"):
        r(th.zeros(5, 3), th.zeros(4), th.zeros(5))


def test_device_argument_places_every_tensor():
    r = AlignmentReward(obs_dim=2, device="meta")
    assert all(t.device.type == "meta" for t in [*r.parameters(), *r.buffers()])


@pytest.mark.gpu
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    r = AlignmentReward(obs_dim=2, device="cuda")
    out = r(th.zeros(3, 2, device="cuda"), th.ones(3, device="cuda"), th.ones(3, device="cuda"))
    assert out.device.type == "cuda"
