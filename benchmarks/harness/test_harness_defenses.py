"""The statistical certificate, learned-reward serving and an ACT generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from advrl.agents.reward_models import RewardEnsemble, RewardNet
from advrl.agents.smoothing.certify import certify
from advrl.attacks.act.population import PPOConfig
from advrl.attacks.act.trainer import ACTConfig, train_act
from advrl.envs.learned_reward import predict_rewards

BUDGETS = np.linspace(0.0, 1.0, 11)


@pytest.mark.parametrize("method", ["dkw", "clopper_pearson"])
def test_certificate(benchmark, method):
    """The certificate over 11 budgets from 10,000 distinct (continuous) returns."""
    benchmark.group = "certificate, 10,000 returns"
    returns = np.random.default_rng(0).uniform(0.0, 500.0, 10_000)
    benchmark(certify, returns, 0.2, BUDGETS, method=method)


@pytest.mark.parametrize("members", [1, 5])
def test_learned_reward_batch(benchmark, members):
    """One batched reward (2 x 64 MLP on obs, action, next obs) for 256 HalfCheetah-sized
    transitions: a RewardNet, or a 5-member UWO RewardEnsemble."""
    import gymnasium as gym

    benchmark.group = "learned reward, batch 256"
    th.manual_seed(0)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (17,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
    nets = [RewardNet(obs_space, act_space) for _ in range(members)]
    model = nets[0] if members == 1 else RewardEnsemble(nets, "uwo", lam=0.1)
    rng = np.random.default_rng(0)
    obs, next_obs = rng.normal(size=(2, 256, 17)).astype(np.float32)
    actions = rng.uniform(-1, 1, (256, 6)).astype(np.float32)
    benchmark(predict_rewards, model, obs, actions, next_obs)


def test_act_generation(benchmark):
    """One ACT generation at population 8: 8 victims x 1 PPO update of 4 x 128 CartPole
    steps, their greedy evaluation and the ES step."""
    benchmark.group = "ACT generation, population 8"
    cfg = ACTConfig(popsize=8, generations=1, n_updates=1, ppo=PPOConfig())
    benchmark.pedantic(train_act, args=(cfg,), rounds=5, warmup_rounds=1)
