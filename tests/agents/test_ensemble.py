"""RewardEnsemble aggregations against hand computations, and their input checks."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.agents.reward_models import RewardEnsemble, RewardNet, aggregate

R = th.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 8.0]])  # 3 members x 2 transitions
# column 0: 1, 3, 5 (mean 3, squared deviations 4 + 0 + 4 = 8)
# column 1: 2, 2, 8 (mean 4, squared deviations 4 + 4 + 16 = 24)


def test_mean_and_wco_by_hand():
    assert aggregate(R, "mean").tolist() == [3.0, 4.0]
    assert aggregate(R, "wco").tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("ddof", "variance"), [(0, [8 / 3, 8.0]), (1, [4.0, 12.0])]  # population, unbiased
)
def test_uwo_by_hand_for_both_variance_conventions(ddof, variance):
    expected = [3.0 - 0.5 * variance[0], 4.0 - 0.5 * variance[1]]
    th.testing.assert_close(aggregate(R, "uwo", lam=0.5, ddof=ddof), th.tensor(expected))
    assert aggregate(R, "uwo", lam=0.0).tolist() == [3.0, 4.0]


def members(k):
    th.manual_seed(0)
    obs, act = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2,))
    return [RewardNet(obs, act, (8,)) for _ in range(k)]


def test_ensemble_serves_the_aggregate_of_its_members_and_the_spread():
    ens = RewardEnsemble(members(4), "uwo", lam=0.2, ddof=1)
    x, a = th.randn(6, 3), th.rand(6, 2)
    each = th.stack([m(x, a, x) for m in ens.members])
    with th.no_grad():
        th.testing.assert_close(ens(x, a, x), each.mean(0) - 0.2 * each.var(0, correction=1))
        reward, spread = ens.predict(x.numpy(), a.numpy(), x.numpy())
    np.testing.assert_allclose(spread, each.std(0, correction=1).detach().numpy(), rtol=1e-5)
    wco = ens.with_aggregation("wco")
    assert wco.members[0] is ens.members[0]  # shared, not copied
    np.testing.assert_allclose(wco.predict(x.numpy(), a.numpy(), x.numpy())[0],
                               each.min(0).values.detach().numpy(), rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    ("k", "aggregation", "lam", "ddof", "message"),
    [
        (1, "wco", 0.0, 0, "at least 2 members, got 1"),
        (1, "uwo", 0.1, 0, "at least 2 members, got 1"),
        (3, "uwo", -0.1, 0, "lam must be a finite number >= 0, got -0.1"),
        (3, "uwo", float("nan"), 0, "lam must be"),
        (3, "median", 0.0, 0, "unknown aggregation 'median'"),
        (3, "uwo", 0.1, 2, "ddof must be 0"),
    ],
)
def test_bad_ensembles_are_clear_errors(k, aggregation, lam, ddof, message):
    with pytest.raises(ValueError, match=message):
        RewardEnsemble(members(k), aggregation, lam, ddof)
    with pytest.raises(ValueError, match=message):
        aggregate(th.zeros(k, 2), aggregation, lam, ddof)


def test_single_member_mean_is_the_member():
    ens = RewardEnsemble(members(1))
    x, a = th.randn(2, 3), th.rand(2, 2)
    th.testing.assert_close(ens(x, a, x), ens.members[0](x, a, x))
    with pytest.raises(TypeError, match="non-empty list of RewardNet"):
        RewardEnsemble([])
