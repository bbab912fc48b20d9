"""advrl.agents.smoothing.vector.SmoothObservation: Gymnasium vector envs, against the twin."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import DummyVecEnv
from vector_twins import MODES, actions, assert_same_stream, short_cartpole, sync, twin_stream
from vector_twins import vector_stream as stream

from advrl.agents.smoothing import SmoothObservation, VecSmoothObservation
from advrl.agents.smoothing import vector as vector_smoothing

SIGMA = 0.2


def twin():
    return twin_stream(SmoothObservation(short_cartpole(), SIGMA), 5, 25)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_one_env_noise_equals_the_gym_twin_in_every_autoreset_mode(mode):
    vec = stream(vector_smoothing.SmoothObservation(sync(short_cartpole, mode), SIGMA), 5, 25)
    assert_same_stream(twin(), vec, obs_keys=("obs_clean",))


def test_under_async_the_noise_equals_the_twin_and_every_observation_is_noised():
    inner = gym.vector.AsyncVectorEnv([short_cartpole], autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        vec = stream(vector_smoothing.SmoothObservation(inner, SIGMA), 5, 25)
    finally:
        inner.close()
    assert_same_stream(twin(), vec, obs_keys=("obs_clean",))
    for obs, _, info in vec:
        assert np.abs(obs - info["obs_clean"]).min() > 0


def test_same_step_final_observations_are_noised_and_the_clean_ones_kept():
    envs = vector_smoothing.SmoothObservation(
        sync(short_cartpole, AutoresetMode.SAME_STEP, 3), SIGMA, seed=0
    )
    envs.reset(seed=0)
    ends = 0
    for action in actions(12):
        obs, _, term, trunc, info = envs.step(np.full(3, action))
        assert np.abs(obs - info["obs_clean"]).min() > 0
        for i in np.flatnonzero(term | trunc):
            ends += 1
            final, clean = info["final_obs"][i], info["final_obs_clean"][i]
            assert final.shape == clean.shape == (4,) and np.abs(final - clean).min() > 0
            np.testing.assert_array_equal(info["final_info"]["obs_clean"][i], clean)
    assert ends == 6


class CountingRng:
    def __init__(self, rng):
        self.rng, self.shapes = rng, []

    def standard_normal(self, shape):
        self.shapes.append(shape)
        return self.rng.standard_normal(shape)


def test_one_noise_draw_per_batch_from_the_engine_the_other_wrappers_use():
    envs = vector_smoothing.SmoothObservation(
        sync(short_cartpole, AutoresetMode.NEXT_STEP, 4), SIGMA, seed=0
    )
    single = SmoothObservation(short_cartpole(), SIGMA)
    assert type(envs.noise) is type(single.noise)
    envs.noise.rng = counting = CountingRng(envs.noise.rng)
    envs.reset()  # no seed: the generator is kept
    envs.step(np.zeros(4, dtype=int))
    assert counting.shapes == [(4, 4), (4, 4)]


def test_the_space_is_unbounded_and_bad_settings_are_clear_errors():
    envs = vector_smoothing.SmoothObservation(sync(short_cartpole, AutoresetMode.NEXT_STEP), 0.1)
    assert np.isinf(envs.single_observation_space.high).all()
    assert envs.observation_space.shape == (1, 4)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        vector_smoothing.SmoothObservation(sync(short_cartpole, AutoresetMode.NEXT_STEP), -1.0)
    discrete = gym.vector.SyncVectorEnv([lambda: gym.make("FrozenLake-v1")])
    with pytest.raises(TypeError, match="Box observation space"):
        vector_smoothing.SmoothObservation(discrete, 0.1)


def test_each_api_gets_a_clear_error_naming_the_other_apis_wrapper():
    with pytest.raises(TypeError, match=r"advrl\.agents\.smoothing\.vector\.SmoothObservation"):
        VecSmoothObservation(sync(short_cartpole, AutoresetMode.NEXT_STEP), SIGMA)
    with pytest.raises(TypeError, match=r"DummyVecEnv.*VecSmoothObservation"):
        vector_smoothing.SmoothObservation(DummyVecEnv([short_cartpole]), SIGMA)
