"""ProxyReward, VecProxyReward, the logging callback and the correlation diagnostic."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from advrl.envs.proxy import LogTrueAndProxyReturns, ProxyReward, VecProxyReward, reward_correlation


def pole_left(obs, action, next_obs, info):
    return float(next_obs[2] < 0)


def test_proxy_replaces_the_reward_and_truth_is_kept():
    env = ProxyReward(gym.make("CartPole-v1"), pole_left)
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        nxt, reward, term, trunc, info = env.step(0)
        assert reward == info["reward_proxy"] == float(nxt[2] < 0)
        assert info["reward_true"] == 1.0
        if term or trunc:
            break


def test_stacked_proxies_keep_the_innermost_truth():
    env = ProxyReward(ProxyReward(gym.make("CartPole-v1"), lambda *a: 5.0), lambda *a: 7.0)
    env.reset(seed=0)
    _, reward, *_, info = env.step(0)
    assert (reward, info["reward_true"], info["reward_proxy"]) == (7.0, 1.0, 7.0)


def test_vec_proxy_matches_the_single_env_wrapper():
    venv = VecProxyReward(DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2), pole_left)
    venv.seed(0)
    venv.reset()
    single = ProxyReward(gym.make("CartPole-v1"), pole_left)
    single.reset(seed=0)
    for _ in range(30):
        _, rewards, dones, infos = venv.step(np.array([1, 1]))
        _, r, term, trunc, _ = single.step(1)
        assert rewards[0] == r and infos[0]["reward_true"] == 1.0
        if dones[0]:
            assert "terminal_observation" in infos[0]
            break


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0]), float("nan"), "high", None])
def test_bad_rewards_are_clear_errors(bad):
    env = ProxyReward(gym.make("CartPole-v1"), lambda *a: bad)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="must return a finite scalar|rewards must be finite"):
        env.step(0)


def test_correlation_diagnostic():
    rng = np.random.default_rng(0)
    true = rng.normal(size=1000)
    assert reward_correlation(true, 2 * true + 1) == pytest.approx(1.0)
    assert abs(reward_correlation(true, rng.normal(size=1000))) < 0.1
    assert np.isnan(reward_correlation(true, np.ones(1000)))
    with pytest.raises(ValueError, match="same shape"):
        reward_correlation(true, true[:5])


def test_callback_logs_true_and_proxy_returns_side_by_side():
    venv = DummyVecEnv([lambda: gym.make("advrl/Tomato-v0")] * 2)
    callback = LogTrueAndProxyReturns()
    model = PPO("MlpPolicy", venv, n_steps=100, batch_size=100, seed=0,
                policy_kwargs=dict(net_arch=[8]))  # fmt: skip
    model.learn(400, callback=callback)
    assert len(callback.episodes) == 4  # 400 steps = 2 envs x 2 episodes of 100 steps
    for true, proxy in callback.episodes:
        assert proxy >= true >= 0  # the sprinkler only ever adds to the proxy
    assert -1.0 <= callback.last_correlation <= 1.0
