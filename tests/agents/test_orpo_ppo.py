"""The ORPO trainer: penalised rewards reach PPO, save/load, and clear errors."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.orpo import ORPO

TINY = dict(n_steps=32, batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]),
            discriminator_kwargs=dict(hidden=(16,)))  # fmt: skip


def make(**kwargs):
    ref = PPO("MlpPolicy", gym.make("CartPole-v1"), policy_kwargs=dict(net_arch=[8]), seed=1)
    args = dict(reference=ref, reference_env=make_vec_env("CartPole-v1", 2, seed=1), seed=0)
    return ORPO("MlpPolicy", make_vec_env("CartPole-v1", 2, seed=0), **(args | TINY | kwargs))


def test_rewards_are_replaced_by_the_penalised_proxy(monkeypatch):
    model = make(divergence="tv", coef=0.25)
    # A discriminator that is sure every sample is the policy's: tv penalty = sign(d) = 1.
    monkeypatch.setattr(model.discriminator, "forward", lambda obs, act: th.ones(len(obs)))
    monkeypatch.setattr(model.discriminator, "fit", lambda *a, **k: 0.0)
    model.learn(64)
    np.testing.assert_allclose(model.rollout_buffer.rewards, 1.0 - 0.25)  # CartPole pays 1
    buf = model.rollout_buffer
    np.testing.assert_allclose(buf.returns, buf.advantages + buf.values, rtol=1e-5)


def test_reward_clipping(monkeypatch):
    model = make(divergence="kl", coef=1.0, reward_clip=0.5)
    monkeypatch.setattr(model.discriminator, "forward", lambda obs, act: -5 * th.ones(len(obs)))
    monkeypatch.setattr(model.discriminator, "fit", lambda *a, **k: 0.0)
    model.learn(64)
    # kl penalty d = -5: the term -coef * d = +5 is clipped to 0.5, then added to CartPole's 1.
    np.testing.assert_allclose(model.rollout_buffer.rewards, 1.5)


def test_reference_samples_come_from_the_reference_env():
    model = make()
    obs, act = model._reference_samples(10)
    assert obs.shape == (10, 4) and act.shape == (10, 1)
    assert set(act.flatten().tolist()) <= {0, 1}


def test_save_load_round_trip(tmp_path):
    model = make()
    model.learn(64)
    model.save(tmp_path / "orpo.zip")
    loaded = ORPO.load(tmp_path / "orpo.zip", env=make_vec_env("CartPole-v1", 2))
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])  # fmt: skip
    for a, b in zip(
        loaded.discriminator.parameters(), model.discriminator.parameters(), strict=True
    ):
        assert th.equal(a.cpu(), b.cpu())
    assert (loaded.divergence, loaded.coef) == (model.divergence, model.coef)
    with pytest.raises(RuntimeError, match="no reference policy"):
        loaded.learn(64)  # the reference is the user's to re-attach


def test_bad_input():
    with pytest.raises(ValueError, match="unknown divergence 'js'"):
        make(divergence="js")
    with pytest.raises(ValueError, match="coef must be a finite number >= 0"):
        make(coef=-1.0)
    pendulum_ref = PPO("MlpPolicy", gym.make("Pendulum-v1"), policy_kwargs=dict(net_arch=[8]))
    with pytest.raises(ValueError, match="reference policy's observation_space"):
        make(reference=pendulum_ref)
    with pytest.raises(ValueError, match="reference_env is required"):
        make(reference_env=None)
