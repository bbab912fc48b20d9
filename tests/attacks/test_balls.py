"""Every attack keeps every perturbation inside its eps-ball (property-based)."""

import math

import hypothesis.strategies as st
import pytest
import torch as th
from hypothesis import given, settings

from advrl.attacks import ATTACKS, make_attack
from advrl.attacks.balls import project, sample_norm, uniform_in_ball
from advrl.testing import LinearPolicy, check_attack

shapes = st.sampled_from([(3,), (7,), (2, 3), (2, 2, 2)])


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(ATTACKS)),
    shape=shapes,
    batch=st.integers(1, 5),
    eps=st.floats(0.0, 3.0),
    norm=st.sampled_from(["linf", "l2"]),
    dtype=st.sampled_from([th.float32, th.float64]),
    seed=st.integers(0, 2**16),
)
def test_every_attack_stays_in_its_ball(name, shape, batch, eps, norm, dtype, seed):
    dim = math.prod(shape)
    gen = th.Generator().manual_seed(seed)
    discrete = name == "targeted"
    n_out = 3 if discrete else 2
    policy = LinearPolicy(
        th.randn(n_out, dim, generator=gen),
        discrete=discrete,
        value_weight=th.randn(dim, generator=gen),
        std=None if discrete else th.rand(n_out, generator=gen) + 0.1,
        obs_shape=shape,
    )
    obs = (10 * th.randn(batch, *shape, generator=gen)).to(dtype)
    check_attack(make_attack(name, eps, norm), policy, obs, seed=seed)


@given(eps=st.floats(1e-3, 5.0), norm=st.sampled_from(["linf", "l2"]), seed=st.integers(0, 999))
def test_projection_and_sampling_respect_the_ball(eps, norm, seed):
    gen = th.Generator().manual_seed(seed)
    delta = 10 * th.randn(6, 5, generator=gen, dtype=th.float64)
    assert (sample_norm(project(delta, eps, norm), norm) <= eps * (1 + 1e-9)).all()
    inside = uniform_in_ball(delta, eps, norm, gen)
    assert (sample_norm(inside, norm) <= eps * (1 + 1e-9)).all()


def test_projection_leaves_points_inside_the_ball_unchanged():
    delta = th.tensor([[0.1, -0.2], [3.0, 4.0]])
    assert th.equal(project(delta, 1.0, "linf")[0], delta[0])
    assert th.allclose(project(delta, 1.0, "l2")[1], th.tensor([0.6, 0.8]))
    assert th.equal(project(delta, 1.0, "l2")[0], delta[0])


def test_uniform_linf_noise_is_uniform_over_the_box():
    gen = th.Generator().manual_seed(0)
    sample = uniform_in_ball(th.zeros(20000, 2), 0.5, "linf", gen)
    assert sample.min() >= -0.5 and sample.max() <= 0.5
    assert abs(float(sample.mean())) < 0.01
    assert abs(float(sample.var()) - 1 / 12) < 0.005  # variance of U(-1/2, 1/2)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", None])
def test_bad_eps_is_rejected_with_the_value(bad):
    with pytest.raises((ValueError, TypeError), match="eps"):
        make_attack("pgd", bad)


def test_unknown_attack_and_norm_are_named():
    with pytest.raises(ValueError, match="unknown attack 'pdg'.*allowed"):
        make_attack("pdg", 0.1)
    with pytest.raises(ValueError, match="unknown norm 'l1'"):
        make_attack("pgd", 0.1, norm="l1")
