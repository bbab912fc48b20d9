"""TorchPolicy adapters agree with SB3's own predictions."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from advrl.policies import RawInputPolicy, from_sb3
from advrl.types import TorchPolicy
from tests.conftest import tiny

CASES = [
    (PPO, "Pendulum-v1"),
    (PPO, "CartPole-v1"),
    (A2C, "Pendulum-v1"),
    (A2C, "CartPole-v1"),
    (SAC, "Pendulum-v1"),
    (TD3, "Pendulum-v1"),
    (DQN, "CartPole-v1"),
]


@pytest.mark.parametrize(("algo", "env_id"), CASES)
def test_adapter_actions_match_sb3_predict(algo, env_id):
    model = tiny(algo, env_id)
    policy = from_sb3(model)
    assert isinstance(policy, TorchPolicy)
    obs = np.stack([model.observation_space.sample() for _ in range(6)]).astype(np.float32)
    expected, _ = model.predict(obs, deterministic=True)
    with th.no_grad():
        got = policy.action(th.as_tensor(obs)).numpy()
    if policy.is_discrete:
        np.testing.assert_array_equal(got, expected)
    else:
        box = model.action_space
        np.testing.assert_allclose(np.clip(got, box.low, box.high), expected, atol=1e-5)
    value = policy.value(th.as_tensor(obs))
    assert value.shape == (6,)


def test_discrete_logits_and_continuous_std():
    ppo_d = from_sb3(tiny(PPO, "CartPole-v1"))
    assert ppo_d.action_logits(th.zeros(2, 4)).shape == (2, 2)
    assert ppo_d.action_std(th.zeros(2, 4)) is None
    ppo_c = from_sb3(tiny(PPO, "Pendulum-v1"))
    assert ppo_c.action_logits(th.zeros(2, 3)) is None
    assert th.allclose(ppo_c.action_std(th.zeros(2, 3)), th.ones(2, 1))  # log_std_init = 0
    dqn = from_sb3(tiny(DQN, "CartPole-v1"))
    q = dqn.action_logits(th.zeros(2, 4))
    assert th.allclose(dqn.value(th.zeros(2, 4)), q.max(dim=1).values)


def test_actions_are_differentiable_for_continuous_policies():
    policy = from_sb3(tiny(PPO, "Pendulum-v1"))
    x = th.zeros(3, 3, requires_grad=True)
    policy.action(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_vec_normalize_statistics_are_used_and_frozen():
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    venv.reset()
    for _ in range(50):
        venv.step(np.array([venv.action_space.sample()]))
    model = PPO("MlpPolicy", venv, policy_kwargs=dict(net_arch=[8]), seed=0)
    policy = from_sb3(model, venv)
    # Samples within a few std of the mean, where normalisation is not clipped (invertible).
    noise = np.random.default_rng(0).normal(size=(5, 3))
    raw = (venv.obs_rms.mean + np.sqrt(venv.obs_rms.var) * noise).astype(np.float32)
    expected = venv.normalize_obs(raw)
    got = policy.normalize(th.as_tensor(raw)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(policy.unnormalize(th.as_tensor(got)).numpy(), raw, atol=1e-5)
    venv.obs_rms.mean += 100.0  # later updates do not leak into the adapter
    np.testing.assert_allclose(policy.normalize(th.as_tensor(raw)).numpy(), expected, atol=1e-5)


def test_raw_input_policy_composes_the_normaliser(halfcheetah_victim):
    policy = halfcheetah_victim.torch_policy()
    raw = th.randn(4, 17, generator=th.Generator().manual_seed(0))
    assert th.allclose(RawInputPolicy(policy).action(raw), policy.action(policy.normalize(raw)))


def test_unsupported_models_are_named():
    with pytest.raises(TypeError, match="stable-baselines3 model"):
        from_sb3(object())
