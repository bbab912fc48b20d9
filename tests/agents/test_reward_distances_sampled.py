"""Sampled EPIC: agreement with the exact tabular value, invariances, and input checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.agents.reward_models import RewardEnsemble, RewardNet
from advrl.agents.reward_models.distances import epic_distance
from advrl.agents.reward_models.distances_sampled import (
    draw_epic_sample,
    sample_epic_distance,
    sample_epic_distances,
)

N_STATES, N_ACTIONS = 3, 2
EYE = np.eye(N_STATES, dtype=np.float32)


def table_reward(table: np.ndarray):
    """A tabular reward read through one-hot observations and integer actions."""
    return lambda obs, actions, next_obs: table[obs.argmax(1), actions, next_obs.argmax(1)]


def sampler_of(dist: np.ndarray):
    """Draws ``(obs, actions, next_obs)`` of the embedded MDP from ``D[s, a, s']``."""

    def sample(n: int, rng: np.random.Generator):
        s, a, t = np.unravel_index(rng.choice(dist.size, n, p=dist.ravel()), dist.shape)
        return EYE[s], a, EYE[t]

    return sample


@pytest.fixture(scope="module")
def mdp():
    rng = np.random.default_rng(11)
    shape = (N_STATES, N_ACTIONS, N_STATES)
    return {
        "r1": rng.normal(size=shape),
        "r2": rng.normal(size=shape) + rng.normal(size=shape[:1])[:, None, None],
        "coverage": rng.dirichlet(np.ones(np.prod(shape))).reshape(shape),  # not a product
        "d_s": np.array([0.2, 0.5, 0.3]),
        "d_a": np.array([0.7, 0.3]),
    }


def test_the_sampled_estimate_converges_to_the_tabular_value_within_its_interval(mdp):
    exact = epic_distance(mdp["r1"], mdp["r2"], 0.9, mdp["coverage"], mdp["d_s"], mdp["d_a"])
    d_s, d_a = mdp["d_s"], mdp["d_a"]
    errors, covered = [], 0
    for seed in range(20):
        est = sample_epic_distance(
            table_reward(mdp["r1"]), table_reward(mdp["r2"]), sampler_of(mdp["coverage"]),
            gamma=0.9, n_samples=2000, n_mean_samples=2000, n_boot=200, rng=seed,
            obs_dist=lambda n, rng: EYE[rng.choice(N_STATES, n, p=d_s)],
            act_dist=lambda n, rng: rng.choice(N_ACTIONS, n, p=d_a),
        )  # fmt: skip
        errors.append(est.distance - exact)
        covered += est.covers(exact)
        assert est.low < est.distance < est.high
    assert covered >= 16  # a 95% interval: 19 of 20 expected; < 16 has probability 0.003
    assert abs(np.mean(errors)) < 0.01 and np.max(np.abs(errors)) < 0.05
    far = sample_epic_distance(table_reward(mdp["r1"]), table_reward(mdp["r2"]),
                               sampler_of(mdp["coverage"]), gamma=0.9, n_samples=20_000,
                               n_mean_samples=20_000, n_boot=0, rng=0,
                               obs_dist=lambda n, rng: EYE[rng.choice(N_STATES, n, p=d_s)],
                               act_dist=lambda n, rng: rng.choice(N_ACTIONS, n, p=d_a))  # fmt: skip
    assert far.distance == pytest.approx(exact, abs=0.01)


def test_default_mean_samples_are_the_coverages_marginals(mdp):
    # observations pooled from obs and next_obs, actions from the transitions' actions
    cov = mdp["coverage"]
    d_s = (cov.sum(axis=(1, 2)) + cov.sum(axis=(0, 1))) / 2
    exact = epic_distance(mdp["r1"], mdp["r2"], 0.5, cov, d_s, cov.sum(axis=(0, 2)))
    batch = sampler_of(cov)(20_000, np.random.default_rng(1))
    for coverage in (sampler_of(cov), batch):
        est = sample_epic_distance(table_reward(mdp["r1"]), table_reward(mdp["r2"]), coverage,
                                   gamma=0.5, n_samples=20_000, n_mean_samples=20_000,
                                   n_boot=0, rng=2)  # fmt: skip
        assert est.distance == pytest.approx(exact, abs=0.01)


def test_a_shaped_scaled_reward_net_is_at_distance_zero_on_every_replicate():
    obs_space = gym.spaces.Box(-1, 1, (3,))
    th.manual_seed(0)
    net = RewardNet(obs_space, gym.spaces.Discrete(2), hidden=(8,))
    ensemble = RewardEnsemble([net, RewardNet(obs_space, gym.spaces.Discrete(2), hidden=(8,))])
    phi = np.array([1.0, -2.0, 0.5])

    def shaped(obs, actions, next_obs):
        return 4 * net.predict(obs, actions, next_obs)[0] + 0.9 * next_obs @ phi - obs @ phi

    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (301, 3)).astype(np.float32)
    batch = (obs[:-1], rng.integers(0, 2, 300), obs[1:])
    near, far = sample_epic_distances([shaped, ensemble], net, batch, gamma=0.9,
                                      n_mean_samples=128, n_boot=50, rng=3)  # fmt: skip
    assert near.distance == pytest.approx(0.0, abs=1e-3)
    assert np.nanmax(near.replicates) == pytest.approx(0.0, abs=1e-3)
    assert far.distance > 0.05 and far.low > 0.0


def test_the_draws_come_from_the_generator_only(mdp):
    args = (table_reward(mdp["r1"]), table_reward(mdp["r2"]), sampler_of(mdp["coverage"]))
    kwargs = dict(n_samples=200, n_mean_samples=50, n_boot=20)
    a, b = (sample_epic_distance(*args, rng=np.random.default_rng(5), **kwargs) for _ in "ab")
    assert (a.distance, a.low, a.high) == (b.distance, b.low, b.high)
    assert sample_epic_distance(*args, rng=6, **kwargs).distance != a.distance
    sample = draw_epic_sample(sampler_of(mdp["coverage"]), 200, 50, rng=5)
    assert sample.obs.shape == (200, N_STATES) and sample.mean_actions.shape == (50,)
    again = sample_epic_distance(*args[:2], sample, n_boot=0)
    assert again.distance == sample_epic_distance(*args[:2], sample, n_boot=0).distance


R = table_reward(np.zeros((N_STATES, N_ACTIONS, N_STATES)))
BATCH = (EYE[[0, 1, 2]], np.array([0, 1, 0]), EYE[[1, 2, 0]])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(n_samples=-1), ValueError, "n_samples must be an integer >= 2"),
        (dict(n_samples=10), ValueError, "between 2 and the batch's 3 rows"),
        (dict(n_mean_samples=0), ValueError, "n_mean_samples must be an integer >= 1"),
        (dict(n_boot=-5), ValueError, "n_boot must be an integer >= 0"),
        (dict(level=1.5), ValueError, r"level must be in \(0, 1\)"),
        (dict(gamma=1.5), ValueError, r"gamma must be a number in \[0, 1\]"),
        (dict(chunk_size=0), ValueError, "chunk_size must be"),
        (dict(coverage=(EYE, np.zeros(2), EYE)), ValueError, "n actions"),
        (dict(coverage=(EYE, np.zeros(3), EYE[:, :2])), ValueError, "one shape"),
        (dict(coverage=EYE), TypeError, r"\(obs, actions, next_obs\)"),
        (dict(obs_dist=lambda n, rng: np.zeros((n, 5))), ValueError, "obs_dist must return"),
        (dict(act_dist=lambda n, rng: np.zeros((n, 2))), ValueError, "act_dist must return"),
        (dict(reward_a=lambda o, a, o2: np.zeros(2)), ValueError, r"shape \(3,\)"),
        (dict(reward_a=lambda o, a, o2: np.full(len(o), np.nan)), ValueError, "finite"),
        (dict(reward_a=3.0), TypeError, "RewardModel"),
    ],
)  # fmt: skip
def test_bad_input_is_named(kwargs, error, match):
    args = {"reward_a": R, "reward_b": R, "coverage": BATCH, "n_mean_samples": 4, **kwargs}
    with pytest.raises(error, match=match):
        sample_epic_distance(args.pop("reward_a"), args.pop("reward_b"), args.pop("coverage"),
                             **args)  # fmt: skip


def test_a_constant_canonical_reward_is_an_error():
    step = table_reward(np.ones((N_STATES, N_ACTIONS, N_STATES)))
    with pytest.raises(ValueError, match="constant on the coverage"):
        sample_epic_distance(step, table_reward(np.arange(18.0).reshape(3, 2, 3)), BATCH,
                             n_mean_samples=4)  # fmt: skip
