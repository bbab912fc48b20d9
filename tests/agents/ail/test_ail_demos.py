"""Expert demonstrations from zoo policies: raw observations, the expert's return, files."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import advrl.zoo
from advrl.agents.ail import Demonstrations, expert_demonstrations


@pytest.fixture(scope="module")
def hopper():
    return advrl.zoo.load("ppo-hopper")


@pytest.fixture(scope="module")
def demos(hopper):
    return expert_demonstrations(hopper, episodes=1, subsample=20, seed=3)


@pytest.fixture(scope="module")
def full(hopper):
    return expert_demonstrations(hopper, episodes=1, subsample=1, seed=3)


def test_demos_have_the_envs_spaces_and_raw_observations(hopper, demos):
    env = gym.make("Hopper-v5")
    demos.check_spaces(env.observation_space, env.action_space)
    assert demos.obs_shape == env.observation_space.shape
    assert demos.action_shape == env.action_space.shape
    obs, _ = env.reset(seed=3)  # the first raw observation of the episode
    first = np.asarray(demos.obs[0])
    # subsampled from a random offset: the kept first obs is raw (not normalised) state
    assert np.abs(demos.obs).max() < 50 and np.abs(first - obs).max() < 5
    stats = hopper.obs_stats
    normalised = (obs - stats.mean) / np.sqrt(stats.var + stats.epsilon)
    assert not np.allclose(obs, normalised)  # raw and normalised differ on this task


def test_demos_record_the_experts_return_and_subsample_every_20th(demos, full):
    assert len(demos.episode_returns) == 1 and demos.episode_returns[0] > 1000  # expert-level
    assert demos.mean_return == full.mean_return
    offset = int(np.random.default_rng(3).integers(20))
    assert np.array_equal(demos.obs, full.obs[offset::20])
    assert np.array_equal(demos.actions, full.actions[offset::20])


def test_the_expert_return_is_the_true_return_of_the_episode(full):
    env = gym.make("Hopper-v5")
    env.reset(seed=3)
    total = sum(env.step(a)[1] for a in full.actions)
    assert full.mean_return == pytest.approx(total, rel=1e-6)
    assert np.array_equal(full.obs[1:], full.next_obs[:-1])  # consecutive transitions


def test_file_round_trip(tmp_path, demos):
    path = tmp_path / "demos.npz"
    demos.save(path)
    back = Demonstrations.load(path)
    for k in ("obs", "actions", "next_obs", "dones", "episode_returns", "episode_lengths"):
        assert np.array_equal(getattr(back, k), getattr(demos, k))


def test_bad_demonstrations_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        Demonstrations(np.zeros((0, 3)), np.zeros((0, 1)), np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match="differ in length"):
        Demonstrations(np.zeros((2, 3)), np.zeros((1, 1)), np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="non-finite"):
        Demonstrations(np.full((1, 3), np.nan), np.zeros((1, 1)), np.zeros((1, 3)), np.zeros(1))
    d = Demonstrations(np.zeros((2, 3)), np.zeros((2, 1)), np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(3,\), but the env's observation space"):
        d.check_spaces(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Box(-1, 1, (1,)))
    np.savez(tmp_path / "bad.npz", obs=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="lacks demonstration fields"):
        Demonstrations.load(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="episodes must be an int >= 1"):
        expert_demonstrations("ppo-hopper", episodes=0)
