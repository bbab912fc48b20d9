"""LearnedReward / VecLearnedReward: served rewards, the truth in info, episode ends, SB3."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.reward_models import RewardEnsemble, RewardNet
from advrl.envs.learned_reward import LearnedReward, VecLearnedReward


class FirstFeature:
    """A transparent 'model': reward = next_obs[:, 0] + 10 * obs[:, 0], spread = 0.5."""

    def predict(self, obs, actions, next_obs):
        r = np.asarray(next_obs, np.float32)[:, 0] + 10 * np.asarray(obs, np.float32)[:, 0]
        return r, np.full(len(r), 0.5, np.float32)


def ensemble(env, k=3):
    th.manual_seed(0)
    return RewardEnsemble(
        [RewardNet(env.observation_space, env.action_space, (8,)) for _ in range(k)], "wco"
    )


def test_gym_wrapper_serves_the_model_and_keeps_the_truth():
    env = LearnedReward(gym.make("CartPole-v1"), FirstFeature())
    obs, _ = env.reset(seed=0)
    nxt, r, *_, info = env.step(0)
    assert r == pytest.approx(nxt[0] + 10 * obs[0], rel=1e-5)
    assert info["reward_proxy"] == r and info["reward_true"] == 1.0 and info["reward_std"] == 0.5


def test_vec_wrapper_uses_the_terminal_observation_at_episode_end():
    venv = VecLearnedReward(make_vec_env("CartPole-v1", 3, seed=0), FirstFeature())
    obs = venv.reset()
    ends = 0
    for _ in range(200):
        nxt, rewards, dones, infos = venv.step(np.ones(3, dtype=int))  # falls over quickly
        for i in range(3):
            final = infos[i]["terminal_observation"] if dones[i] else nxt[i]
            assert rewards[i] == pytest.approx(final[0] + 10 * obs[i][0], rel=1e-5, abs=1e-6)
            assert infos[i]["reward_true"] == 1.0
        ends += int(dones.sum())
        obs = nxt
    assert ends >= 3


def test_vec_wrapper_is_one_batched_call_matching_per_env_calls():
    venv = make_vec_env("Pendulum-v1", 4, seed=1)
    ens = ensemble(venv)
    wrapped = VecLearnedReward(venv, ens)
    obs = wrapped.reset()
    actions = np.random.default_rng(0).uniform(-2, 2, (4, 1)).astype(np.float32)
    nxt, rewards, _, infos = wrapped.step(actions)
    for i in range(4):
        single, spread = ens.predict(obs[i : i + 1], actions[i : i + 1], nxt[i : i + 1])
        assert rewards[i] == pytest.approx(single[0], rel=1e-5)
        assert infos[i]["reward_std"] == pytest.approx(spread[0], rel=1e-5)
        assert infos[i]["reward_std"] > 0 and infos[i]["reward_true"] <= 0  # Pendulum's truth


def test_bad_models_and_spaces_are_clear_errors():
    with pytest.raises(TypeError, match="model must have predict"):
        LearnedReward(gym.make("CartPole-v1"), lambda o, a, n: 0.0)
    with pytest.raises(TypeError, match="needs Box observations"):
        LearnedReward(gym.make("FrozenLake-v1"), FirstFeature())


def test_ppo_and_sac_train_on_a_learned_reward():
    model = ensemble(gym.make("CartPole-v1"))
    venv = VecLearnedReward(make_vec_env("CartPole-v1", 2, seed=0), model)
    PPO("MlpPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, seed=0,
        policy_kwargs=dict(net_arch=[8])).learn(64)  # fmt: skip
    env = gym.make("Pendulum-v1")
    sac = SAC("MlpPolicy", LearnedReward(env, ensemble(env)), learning_starts=20, batch_size=16,
              seed=0, policy_kwargs=dict(net_arch=[8]))  # fmt: skip
    sac.learn(40)
    assert sac.num_timesteps == 40


@pytest.mark.gpu
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_models_on_cuda_serve_numpy_rewards():
    env = gym.make("Pendulum-v1")
    net = RewardNet(env.observation_space, env.action_space, (8,), device="cuda")
    venv = VecLearnedReward(make_vec_env("Pendulum-v1", 2, seed=0), net)
    venv.reset()
    _, rewards, _, _ = venv.step(np.zeros((2, 1), np.float32))
    assert rewards.dtype == np.float32 and rewards.shape == (2,)
