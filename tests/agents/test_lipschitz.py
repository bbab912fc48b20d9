"""Gradient penalties, spectral norm and the local Lipschitz estimate, against hand values."""

import math

import pytest
import torch as th
from torch import nn

from advrl.agents.lipschitz import (
    SITES,
    gradient_norms,
    gradient_penalty,
    is_spectral_normalized,
    local_lipschitz,
    penalty_points,
    spectral_normalize,
)

W_OBS, W_ACT = th.tensor([3.0, 0.0]), th.tensor([4.0])  # ||(w_obs, w_act)|| = 5


def linear(obs, act):
    return obs @ W_OBS + act @ W_ACT


def parts(batch=6, seed=0):
    g = th.Generator().manual_seed(seed)
    return (th.randn(batch, 2, generator=g), th.randn(batch, 1, generator=g))


@pytest.mark.parametrize("site", SITES)
def test_linear_score_penalty_is_the_hand_value_at_every_site(site):
    # The gradient of a linear score is w everywhere: norm 5 at any point x^.
    expert, policy = parts(seed=1), parts(seed=2)
    one = gradient_penalty(linear, expert, policy, target=1.0, site=site)
    assert one.item() == pytest.approx((5 - 1) ** 2)
    below = gradient_penalty(linear, expert, policy, target=7.0, site=site)
    assert below.item() == 0.0  # one-sided: a norm under k costs nothing
    two = gradient_penalty(linear, expert, policy, target=7.0, one_sided=False, site=site)
    assert two.item() == pytest.approx((5 - 7) ** 2)


def test_penalty_averages_per_sample_norms():
    # f(x) = sum(x^2): grad 2x, norm 2||x||; samples with norms 2 and 6 over k = 1.
    x = th.tensor([[1.0, 0.0], [0.0, 3.0]])
    pen = gradient_penalty(lambda z: (z**2).sum(dim=1), None, x, site="data")
    assert pen.item() == pytest.approx(((2 - 1) ** 2 + (6 - 1) ** 2) / 2)


def test_interpolates_lie_between_the_pairs_with_one_weight_per_sample_and_part():
    expert = (th.zeros(500, 2), th.zeros(500, 1))
    policy = (th.ones(500, 2), th.full((500, 1), 2.0))
    g = th.Generator().manual_seed(0)
    obs, act = penalty_points("interpolates", expert, policy, generator=g)
    u_obs, u_act = obs[:, 0], act[:, 0] / 2
    assert th.equal(obs[:, 0], obs[:, 1])  # one weight across a part's features
    assert (u_obs >= 0).all() and (u_obs <= 1).all() and (u_act >= 0).all() and (u_act <= 1).all()
    assert not th.allclose(u_obs, u_act)  # the reference draws one per part
    assert abs(u_obs.mean().item() - 0.5) < 0.05
    again = penalty_points("interpolates", expert, policy, generator=th.Generator().manual_seed(0))
    assert th.equal(again[0], obs) and th.equal(again[1], act)


@pytest.mark.parametrize(("site", "centre"), [("expert_noise", 0.0), ("policy_noise", 5.0)])
def test_noisy_sites_add_gaussian_noise_to_their_distribution(site, centre):
    expert, policy = th.zeros(20_000, 1), th.full((20_000, 1), 5.0)
    (x,) = penalty_points(site, expert, policy, noise_std=10.0,
                          generator=th.Generator().manual_seed(0))  # fmt: skip
    assert x.mean().item() == pytest.approx(centre, abs=0.3)
    assert x.std().item() == pytest.approx(10.0, rel=0.03)


def test_penalty_points_are_detached_and_the_penalty_reaches_the_parameters():
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    obs, act = parts()
    obs.requires_grad_(True)
    score = lambda o, a: net(th.cat([o, a], 1))  # noqa: E731
    pen = gradient_penalty(score, parts(seed=3), (obs, act), target=0.0)
    pen.backward()
    assert obs.grad is None  # the points are copies; the data is not differentiated
    # every weight shapes the input gradient (the output bias does not)
    assert net[0].weight.grad.abs().sum() > 0 and net[2].weight.grad.abs().sum() > 0


def test_optimising_the_penalty_alone_brings_the_gradient_norms_down_to_k():
    th.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    with th.no_grad():
        for p in net.parameters():
            p.mul_(8.0)  # a steep net: local Lipschitz well above 1
    x = th.randn(256, 2)
    f = lambda z: net(z).squeeze(1)  # noqa: E731
    before, mean_before = local_lipschitz(f, x), gradient_norms(f, [x], False).mean().item()
    opt = th.optim.Adam(net.parameters(), lr=3e-2)
    for _ in range(300):
        opt.zero_grad()
        gradient_penalty(f, None, x, site="data").backward()
        opt.step()
    assert mean_before > 5
    assert gradient_norms(f, [x], False).mean().item() <= 1.1
    assert local_lipschitz(f, x) < before / 3  # ReLU regions lag, the worst one too falls


def test_local_lipschitz_is_the_largest_gradient_norm():
    x = th.tensor([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    assert local_lipschitz(lambda z: (z**2).sum(dim=1), x) == pytest.approx(4.0)
    assert local_lipschitz(linear, parts()) == pytest.approx(5.0)


def test_spectral_norm_makes_each_layer_and_the_net_one_lipschitz():
    th.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    with th.no_grad():
        for p in net.parameters():
            p.mul_(5.0)
    x = th.randn(512, 4)
    f = lambda z: net(z).squeeze(1)  # noqa: E731
    assert local_lipschitz(f, x) > 10
    spectral_normalize(net)
    assert is_spectral_normalized(net)
    for _ in range(30):  # power iterations run in training-mode forwards
        net(x)
    net.eval()
    for layer in (m for m in net.modules() if isinstance(m, nn.Linear)):
        assert th.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)
    assert local_lipschitz(f, x) <= 1.0 + 1e-3


def test_spectral_norm_state_dict_round_trips_into_a_normalised_net():
    a = spectral_normalize(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)))
    a(th.randn(8, 3))
    b = spectral_normalize(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)))
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = th.randn(5, 3)
    assert th.equal(a(x), b(x))
    with pytest.raises(RuntimeError):
        nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).load_state_dict(a.state_dict())


def test_bad_input_gets_clear_errors():
    x = parts()
    with pytest.raises(ValueError, match="unknown gradient-penalty site 'wgan'"):
        gradient_penalty(linear, x, x, site="wgan")
    with pytest.raises(ValueError, match="no gradient path"):
        gradient_penalty(lambda o, a: th.zeros(len(o)), x, x)
    with pytest.raises(ValueError, match="no gradient path"):
        gradient_penalty(lambda o, a: linear(o, a).detach(), x, x)
    with pytest.raises(ValueError, match="ignores every input part"):
        gradient_penalty(lambda o, a: (o.detach() @ W_OBS) * th.ones(1, requires_grad=True), x, x)
    with pytest.raises(ValueError, match="needs expert points"):
        gradient_penalty(linear, None, x)
    with pytest.raises(ValueError, match="equal shapes"):
        gradient_penalty(linear, parts(batch=3), parts(batch=6))
    with pytest.raises(ValueError, match="leading batch dimension"):
        gradient_penalty(linear, None, (th.zeros(3, 2), th.zeros(4, 1)), site="data")
    with pytest.raises(ValueError, match="target must be a finite number >= 0, got -1"):
        gradient_penalty(linear, x, x, target=-1)
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0, got nan"):
        gradient_penalty(linear, x, x, site="expert_noise", noise_std=math.nan)
    with pytest.raises(TypeError, match="tensor or a non-empty sequence"):
        gradient_penalty(linear, x, [])
    with pytest.raises(ValueError, match="no nn.Linear"):
        spectral_normalize(nn.Tanh())
    net = spectral_normalize(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="already spectral-normalised"):
        spectral_normalize(net)


def test_gradient_norms_treat_an_ignored_part_as_zero_gradient():
    obs, act = parts()
    norms = gradient_norms(lambda o, a: o @ W_OBS, (obs, act), create_graph=False)
    assert th.allclose(norms, th.full((6,), 3.0))
