"""A reward function (or learned reward model) returning a non-real value gets a clear error."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from advrl.envs.learned_reward import LearnedReward, VecLearnedReward
from advrl.envs.proxy import ProxyReward, VecProxyReward

BAD_RETURNS = {
    "complex": (1 + 2j, r"got \(1\+2j\) \(complex\)"),
    "numpy complex": (np.complex64(1 + 2j), r"got .*\(complex64\)"),
    "list": ([1.0, 2.0], r"got \[1.0, 2.0\] \(list\)"),
    "one-element list": ([1.0], r"got \[1.0\] \(list\)"),
    "ragged list": ([1.0, [2.0]], r"got \[1.0, \[2.0\]\] \(list\)"),
    "nan": (float("nan"), r"got nan \(float\)"),
    "inf": (np.float32("inf"), r"got (np\.float32\()?inf\)? \(float32\)"),
}


def returns(value):
    def reward_fn(obs, action, next_obs, info):
        return value

    return reward_fn


@pytest.mark.parametrize("bad", BAD_RETURNS.values(), ids=BAD_RETURNS.keys())
@pytest.mark.parametrize("role", ["proxy", "true"])
def test_proxy_reward_names_the_function_its_return_value_and_what_is_allowed(bad, role):
    value, got = bad
    fns = {"proxy": None, "true": None, role: returns(value)}
    env = ProxyReward(gym.make("CartPole-v1"), **fns)
    env.reset(seed=0)
    message = r"reward function 'reward_fn' must return a finite scalar \(a real float\), " + got
    with pytest.raises(ValueError, match=message):
        env.step(0)


@pytest.mark.parametrize("bad", BAD_RETURNS.values(), ids=BAD_RETURNS.keys())
def test_vec_proxy_reward_checks_the_return_value(bad):
    value, got = bad
    venv = VecProxyReward(make_vec_env("CartPole-v1", 2, seed=0), returns(value))
    venv.reset()
    with pytest.raises(ValueError, match=r"'reward_fn' must return a finite scalar.*" + got):
        venv.step(np.zeros(2, dtype=int))


@pytest.mark.parametrize("good", [1, 0.5, np.float32(0.5), np.int64(2), np.array(0.5)])
def test_real_scalars_of_any_numeric_type_are_rewards(good):
    env = ProxyReward(gym.make("CartPole-v1"), returns(good))
    env.reset(seed=0)
    _, reward, *_ = env.step(0)
    assert type(reward) is float and reward == float(good)


class ConstantModel:
    """A reward model that returns whatever it is told (shape (batch,) for arrays)."""

    def __init__(self, make_rewards):
        self.make_rewards = make_rewards

    def predict(self, obs, actions, next_obs):
        rewards = self.make_rewards(len(obs))
        return rewards, np.zeros(len(obs))


BAD_MODEL_REWARDS = {
    "complex": (lambda n: np.full(n, 1 + 2j), r"reward of dtype complex128"),
    "list of complex": (lambda n: [1j] * n, r"reward of dtype complex128"),
    "strings": (lambda n: np.array(["a"] * n), r"reward of dtype <U1"),
    "nan": (lambda n: np.full(n, np.nan), r"non-finite rewards"),
}


@pytest.mark.parametrize("bad", BAD_MODEL_REWARDS.values(), ids=BAD_MODEL_REWARDS.keys())
def test_learned_reward_checks_what_the_model_returns(bad):
    make_rewards, message = bad
    env = LearnedReward(gym.make("CartPole-v1"), ConstantModel(make_rewards))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"reward model .*" + message):
        env.step(0)
    venv = VecLearnedReward(make_vec_env("CartPole-v1", 2, seed=0), ConstantModel(make_rewards))
    venv.reset()
    with pytest.raises(ValueError, match=r"reward model .*" + message):
        venv.step(np.zeros(2, dtype=int))


def test_learned_reward_accepts_a_list_of_floats():
    env = LearnedReward(gym.make("CartPole-v1"), ConstantModel(lambda n: [0.5] * n))
    env.reset(seed=0)
    assert env.step(0)[1] == 0.5
