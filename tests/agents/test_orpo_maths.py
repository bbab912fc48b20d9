"""ORPO: the discriminator recovers log density ratios; penalties and divergences by hand."""

import math

import gymnasium as gym
import pytest
import torch as th

from advrl.agents.orpo import (
    Discriminator,
    categorical_chi2,
    categorical_chi2_or_kl,
    categorical_kl,
    chi2_estimate,
    gaussian_chi2,
    gaussian_chi2_or_kl,
    gaussian_kl,
    occupancy_penalty,
    penalised_reward,
    trimmed_mean,
)


def test_discriminator_recovers_the_log_density_ratio_of_two_gaussians():
    # mu_pi = N(0.5, 1) and mu_ref = N(0, 1) over a 1-D "observation", a fixed action:
    # log(mu_pi / mu_ref)(x) = 0.5 x - 0.125, and chi^2(mu_pi || mu_ref) = e^0.25 - 1.
    th.manual_seed(0)
    gen = th.Generator().manual_seed(0)
    n = 20000
    obs_pi = th.randn(n, 1, generator=gen) + 0.5
    obs_ref = th.randn(n, 1, generator=gen)
    zeros = th.zeros(n, dtype=th.long)
    disc = Discriminator(gym.spaces.Box(-10, 10, (1,)), gym.spaces.Discrete(1), hidden=(32, 32))
    disc.fit((obs_pi, zeros), (obs_ref, zeros), epochs=15, batch_size=512, generator=gen)
    grid = th.linspace(-1.5, 2.0, 15).reshape(-1, 1)
    with th.no_grad():
        d = disc(grid, th.zeros(15, dtype=th.long))
    expected = 0.5 * grid.squeeze(1) - 0.125
    assert th.max(th.abs(d - expected)) < 0.1  # stated tolerance: 0.1 nats on [-1.5, 2]
    with th.no_grad():
        chi2 = chi2_estimate(disc(obs_pi, zeros))
    assert float(chi2) == pytest.approx(math.exp(0.25) - 1, abs=0.06)


def test_discrete_actions_are_one_hot_encoded():
    disc = Discriminator(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3), hidden=(4,))
    assert disc.net[0].in_features == 5
    disc_c = Discriminator(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Box(-1, 1, (4,)), hidden=(4,))
    assert disc_c(th.zeros(2, 2), th.zeros(2, 4)).shape == (2,)


def test_penalties_follow_their_definitions():
    d = th.tensor([-1.0, 0.0, 0.5, 2.0])
    assert th.equal(occupancy_penalty(d, "kl"), d)
    assert th.equal(occupancy_penalty(d, "tv"), th.sign(d))
    chi2 = th.expm1(d)
    assert th.allclose(occupancy_penalty(d, "chi2"), chi2)
    # With only 4 samples the 1% trim removes nothing: chi2_hat is the plain mean.
    assert th.allclose(occupancy_penalty(d, "sqrt_chi2"), chi2 / chi2.mean().sqrt())
    negative = th.tensor([-2.0, -1.0])  # chi2_hat <= 0: not divided
    assert th.allclose(occupancy_penalty(negative, "sqrt_chi2"), th.expm1(negative))
    inf = th.tensor([0.0, 1000.0])
    assert occupancy_penalty(inf, "chi2")[1] == 0  # non-finite penalties become 0
    with pytest.raises(ValueError, match="unknown divergence 'js'"):
        occupancy_penalty(d, "js")


def test_trimmed_mean_and_clipping():
    x = th.cat([th.arange(98.0), th.tensor([1e9, -1e9])]).double()
    assert float(trimmed_mean(x, 0.01)) == 48.5  # 100 values: drops the one outlier per side
    assert float(trimmed_mean(x, 0.0)) == pytest.approx(float(x.mean()))
    with pytest.raises(ValueError, match="trim"):
        trimmed_mean(x, 0.5)
    r = penalised_reward(th.tensor([1.0, 1.0]), th.tensor([0.5, 100.0]), coef=0.1, clip=5.0)
    assert th.allclose(r, th.tensor([0.95, 1.0 - 5.0]))  # only the penalty term is clipped


def test_reward_clip_never_truncates_the_proxy_reward():
    # The reference clips the discriminator reward -coef * d, then adds the proxy reward.
    proxy = th.tensor([20.0, -30.0, 20.0, 3.0])
    penalty = th.tensor([0.0, 0.0, 100.0, -100.0])
    r = penalised_reward(proxy, penalty, coef=1.0, clip=5.0)
    assert th.allclose(r, th.tensor([20.0, -30.0, 15.0, 8.0]))
    with pytest.raises(ValueError, match="clip must be a finite number > 0"):
        penalised_reward(proxy, penalty, coef=1.0, clip=0.0)
    with pytest.raises(ValueError, match="coef must be a finite number >= 0"):
        penalised_reward(th.ones(1), th.ones(1), coef=-1.0)


def test_categorical_closed_forms_match_direct_sums():
    p, q = th.tensor([[0.2, 0.5, 0.3]]), th.tensor([[0.4, 0.4, 0.2]])
    kl = (p * (p / q).log()).sum()
    chi2 = (p**2 / q).sum() - 1
    assert th.allclose(categorical_kl(p.log(), q.log()), kl.reshape(1))
    assert th.allclose(categorical_chi2(p.log(), q.log()), chi2.reshape(1))


def test_gaussian_closed_forms_match_numerical_integration():
    mu_p, std_p, mu_q, std_q = 0.3, 0.8, -0.1, 1.1
    x = th.linspace(-12, 12, 200001, dtype=th.float64)
    dx = x[1] - x[0]
    p = th.distributions.Normal(mu_p, std_p).log_prob(x).exp()
    q = th.distributions.Normal(mu_q, std_q).log_prob(x).exp()
    kl_num = float((p * (p / q).log()).sum() * dx)
    chi2_num = float((p**2 / q).sum() * dx - 1)
    args = [th.tensor([[v, v]], dtype=th.float64) for v in (mu_p, std_p, mu_q, std_q)]
    assert float(gaussian_kl(*args)) == pytest.approx(2 * kl_num, rel=1e-6)  # 2 equal dims
    assert float(gaussian_chi2(*args)) == pytest.approx((1 + chi2_num) ** 2 - 1, rel=1e-6)
    wide = [th.tensor([[0.0]]), th.tensor([[2.0]]), th.tensor([[0.0]]), th.tensor([[1.0]])]
    assert math.isinf(float(gaussian_chi2(*wide)))  # 2 var_q <= var_p diverges
    assert float(gaussian_chi2_or_kl(*args)) == pytest.approx((1 + chi2_num) ** 2 - 1, rel=1e-6)


def test_chi2_falls_back_to_kl_where_it_diverges_with_finite_gradients():
    # Rows: finite chi^2; var_p >= 2 var_q in one dimension; a mean so far off that chi^2
    # overflows. The reference optimises the KL on the last two (ORPOPolicy.loss).
    mu_p = th.tensor([[0.3, 0.0], [0.0, 0.0], [40.0, 0.0]], requires_grad=True)
    std_p = th.tensor([[0.8, 1.0], [2.0, 1.0], [1.0, 1.0]], requires_grad=True)
    mu_q, std_q = th.zeros(3, 2), th.ones(3, 2)
    out = gaussian_chi2_or_kl(mu_p, std_p, mu_q, std_q)
    kl = gaussian_kl(mu_p, std_p, mu_q, std_q).detach()
    # Row 0 by hand: int p^2/q = var_q / (std_p sqrt(2 var_q - var_p)) exp(dmu^2 / (...)).
    row0 = 1 / (0.8 * math.sqrt(2 - 0.64)) * math.exp(0.09 / (2 - 0.64))
    assert float(out[0].detach()) == pytest.approx(row0 - 1, rel=1e-5)
    assert th.allclose(out[1:].detach(), kl[1:])
    assert float(kl[2]) == pytest.approx(40.0**2 / 2)
    out.sum().backward()
    assert th.isfinite(mu_p.grad).all() and th.isfinite(std_p.grad).all()
    assert float(mu_p.grad[2, 0]) == pytest.approx(40.0)  # d KL / d mu_p = (mu_p - mu_q) / var_q
    assert float(std_p.grad[1, 0]) != 0.0  # the drifted state is pulled back, not ignored


def test_categorical_chi2_falls_back_to_kl():
    logits_p = th.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    logits_q = th.tensor([[0.0, 1.0], [0.0, -200.0]])  # row 1: q(1) ~ e^-200
    out = categorical_chi2_or_kl(logits_p, logits_q)
    assert th.allclose(out[0], categorical_chi2(logits_p, logits_q)[0])
    assert th.allclose(out[1], categorical_kl(logits_p, logits_q)[1])
    out.sum().backward()
    assert th.isfinite(logits_p.grad).all()
