"""Gradient attacks against linear victims whose worst case is known in closed form."""

import pytest
import torch as th

from advrl.attacks import FGSM, MAD, PGD, CriticAttack, TargetedPGD, UniformNoise
from advrl.attacks.losses import Reference, action_deviation, mad_divergence
from advrl.testing import LinearPolicy

W = th.tensor([[0.5, -2.0, 1.0, 0.0]])
OBS = th.tensor([[0.3, 0.1, -0.2, 1.0], [1.0, -1.0, 0.0, 2.0]])


def deviation(policy, adv, obs=OBS):
    return action_deviation(policy, adv, Reference.of(policy, obs))


@pytest.mark.parametrize("attack_cls", [FGSM, PGD, MAD])
@pytest.mark.parametrize(("norm", "dual"), [("linf", 1), ("l2", 2)])
def test_continuous_linear_worst_case_is_reached(attack_cls, norm, dual):
    # max over the ball of (w . delta)^2 is (eps * ||w||_dual)^2, dual of linf is l1.
    eps = 0.1
    policy = LinearPolicy(W)
    adv = attack_cls(eps, norm)(OBS, policy, th.Generator().manual_seed(0))
    worst = float((eps * th.linalg.vector_norm(W[0], ord=dual)) ** 2)
    reached = deviation(policy, adv)
    assert (reached <= worst * (1 + 1e-4)).all()  # nothing beats the closed form
    # l_inf sign steps land exactly on the optimal vertex; l_2 steps from a random start in
    # the ball converge geometrically to the optimal direction.
    assert (reached >= worst * (0.9999 if norm == "linf" else 0.95)).all()


def test_pgd_raises_the_loss_far_above_uniform_noise():
    policy = LinearPolicy(W)
    gen = th.Generator().manual_seed(1)
    noise = deviation(policy, UniformNoise(0.1)(OBS, policy, gen))
    pgd = deviation(policy, PGD(0.1)(OBS, policy, gen))
    assert (pgd > 3 * noise).all()


def test_fgsm_on_a_discrete_linear_policy_cuts_the_margin_by_eps_l1():
    # Two actions: the margin (w0 - w1) . x of the clean action falls by eps * ||w0 - w1||_1.
    weight = th.tensor([[1.0, -1.0, 0.5], [-0.5, 1.0, 0.0]])
    policy = LinearPolicy(weight, discrete=True)
    obs = th.tensor([[1.0, 0.2, 0.3]])
    eps = 0.05
    adv = FGSM(eps)(obs, policy)
    margin = lambda x: x @ (weight[0] - weight[1])  # noqa: E731
    assert policy.action(obs).item() == 0
    expected = margin(obs) - eps * (weight[0] - weight[1]).abs().sum()
    assert th.allclose(margin(adv), expected)


def test_mad_on_a_discrete_policy_maximises_kl():
    weight = th.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    policy = LinearPolicy(weight, discrete=True)
    obs = th.tensor([[0.2, 0.1]])
    ref = Reference.of(policy, obs)
    adv = MAD(0.3)(obs, policy, th.Generator().manual_seed(0))
    noise = UniformNoise(0.3)(obs, policy, th.Generator().manual_seed(0))
    assert mad_divergence(policy, adv, ref) > mad_divergence(policy, noise, ref)


def test_mad_weights_action_dimensions_by_inverse_std():
    # Two equal action rows on separate coordinates; the low-std dimension is worth more,
    # so MAD spends the l2 budget on it while plain deviation would split it evenly.
    policy = LinearPolicy(th.eye(2), std=th.tensor([0.1, 1.0]))
    adv = MAD(1.0, "l2", steps=50)(th.zeros(1, 2), policy, th.Generator().manual_seed(0))
    assert abs(adv[0, 0]) > 0.95 and abs(adv[0, 1]) < 0.3


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_critic_attack_reaches_the_minimum_value(norm):
    v = th.tensor([1.0, -2.0, 0.5, 0.0])
    policy = LinearPolicy(W, value_weight=v)
    adv = CriticAttack(0.2, norm)(OBS, policy, th.Generator().manual_seed(0))
    dual = 1 if norm == "linf" else 2
    best_drop = 0.2 * th.linalg.vector_norm(v, ord=dual)
    drop = OBS @ v - policy.value(adv)
    assert (drop <= best_drop + 1e-5).all()
    assert (drop >= best_drop * (1 - 1e-5 if norm == "linf" else 0.95)).all()


def test_critic_attack_needs_a_value():
    with pytest.raises(ValueError, match="value"):
        CriticAttack(0.1)(OBS, LinearPolicy(W), th.Generator())


def test_targeted_pgd_flips_to_the_target_when_the_budget_allows():
    policy = LinearPolicy(th.eye(3), discrete=True)
    obs = th.tensor([[0.3, 0.0, 0.1], [0.0, 0.5, 0.4]])
    adv = TargetedPGD(0.3, target=2)(obs, policy, th.Generator().manual_seed(0))
    assert policy.action(adv).tolist() == [2, 2]
    too_small = TargetedPGD(0.01, target=2)(obs, policy, th.Generator().manual_seed(0))
    assert policy.action(too_small)[0] == 0


def test_targeted_pgd_least_likely_and_errors():
    policy = LinearPolicy(th.eye(3), discrete=True)
    obs = th.tensor([[0.3, 0.2, 0.1]])
    adv = TargetedPGD(0.5)(obs, policy, th.Generator().manual_seed(0))
    assert policy.action(adv).item() == 2  # the least likely action at the clean point
    with pytest.raises(ValueError, match="out of range"):
        TargetedPGD(0.1, target=5)(obs, policy, th.Generator())
    with pytest.raises(ValueError, match="discrete"):
        TargetedPGD(0.1)(OBS, LinearPolicy(W), th.Generator())
    with pytest.raises(ValueError, match="target"):
        TargetedPGD(0.1, target=-1)


def test_attacks_are_batched_and_per_sample_independent():
    policy = LinearPolicy(W, value_weight=th.ones(4))
    batch = PGD(0.1, random_start=False)(OBS, policy)
    single = th.cat([PGD(0.1, random_start=False)(OBS[i : i + 1], policy) for i in range(2)])
    assert th.allclose(batch, single)


def test_observation_shape_mismatch_and_nan_are_clear_errors():
    policy = LinearPolicy(W)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*expects \(batch, \*\(4,\)\)"):
        PGD(0.1)(th.zeros(2, 3), policy)
    bad = OBS.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        PGD(0.1)(bad, policy)


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"step_size": -1.0}])
def test_bad_step_settings(kwargs):
    with pytest.raises(ValueError):
        PGD(0.1, **kwargs)
