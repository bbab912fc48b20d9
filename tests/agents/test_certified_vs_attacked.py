"""On the shipped smoothed CartPole agent the adaptive attack never beats the certificate."""

import numpy as np
import pytest

from advrl.agents.smoothing.attack import SmoothedPGD
from advrl.agents.smoothing.certify import certify
from advrl.agents.smoothing.rollout import SmoothedTask, smoothed_rollouts


@pytest.mark.expensive
def test_empirical_attacked_return_is_at_or_above_the_certified_bound():
    import advrl.zoo

    victim = advrl.zoo.load("ppo-cartpole-smooth-sigma0.2")
    policy, task = victim.torch_policy(), SmoothedTask.from_zoo(victim)
    clean = smoothed_rollouts(policy, task, 2000, n_envs=1000, seed=0).returns
    budgets = [0.1, 0.3, 0.6]
    bounds = certify(clean, task.sigma, budgets, method="clopper_pearson").expected
    assert np.all(np.diff(bounds) < 0) and bounds[0] > 150
    for budget, bound in zip(budgets, bounds, strict=True):
        attack = SmoothedPGD(budget, task.sigma, task.horizon, samples=8)
        attacked = smoothed_rollouts(policy, task, 60, n_envs=60, seed=7, attack=attack)
        assert attacked.applied_budget.max() <= budget + 1e-5
        assert attacked.returns.mean() >= bound, (budget, attacked.returns.mean(), bound)
