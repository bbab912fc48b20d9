"""Gradient attacks are far stronger than noise on the shipped MuJoCo policies."""

import pytest

from advrl.attacks import evaluate_under_attack, make_attack
from advrl.bench import STANDARD_EPS


@pytest.mark.expensive
@pytest.mark.parametrize("name", ["ppo-halfcheetah", "ppo-hopper"])
def test_strongest_gradient_attack_costs_far_more_than_uniform_noise(name):
    import advrl.zoo

    victim = advrl.zoo.load(name)
    eps = STANDARD_EPS[victim.env_id]
    kw = dict(n_episodes=10, n_envs=10, seed=0)
    clean = evaluate_under_attack(victim, None, None, **kw).mean_return
    uniform = evaluate_under_attack(victim, None, make_attack("uniform", eps), **kw).mean_return
    strongest = min(
        evaluate_under_attack(victim, None, make_attack(a, eps), **kw).mean_return
        for a in ("mad", "pgd")
    )
    uniform_loss = max(clean - uniform, 0.0)
    gradient_loss = clean - strongest
    # "far more": the gradient attack costs at least 20% of the clean return and at least
    # three times what uniform noise of the same size costs.
    assert gradient_loss > 0.2 * clean
    assert gradient_loss > 3 * uniform_loss
