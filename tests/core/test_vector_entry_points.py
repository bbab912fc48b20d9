"""The vector_entry_point of advrl ids: gym.make_vec builds the batched wrapper."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import advrl.attacks.vector as vector_attacks
from advrl.registration import GYM_ENVS

ID = "advrl/PerturbedObservation-v0"


def make_vec(n=2, **kwargs):
    return gym.make_vec(ID, n, vectorization_mode="vector_entry_point", **kwargs)


def test_make_vec_builds_one_batched_attack_over_a_sync_vector_env():
    envs = make_vec(3, env_id="CartPole-v1", eps=0.1, seed=0)
    assert isinstance(envs, vector_attacks.PerturbObservation)
    assert isinstance(envs.env, gym.vector.SyncVectorEnv) and envs.num_envs == 3
    obs, info = envs.reset(seed=0)
    delta = np.abs(obs - info["obs_clean"]).max(axis=1)
    assert ((delta > 0) & (delta <= 0.1 + 1e-6)).all()
    assert type(gym.make_vec(ID, 2, eps=0.1)) is vector_attacks.PerturbObservation  # the default


def test_a_zoo_victim_is_attacked_with_one_batched_gradient_attack(cartpole_victim):
    envs = make_vec(2, attack="pgd", eps=0.2, victim="ppo-cartpole", attack_kwargs={"steps": 3})
    assert (
        envs.attacker.policy.observation_space == cartpole_victim.torch_policy().observation_space
    )
    obs, info = envs.reset(seed=1)
    assert (info["attack_norm"] > 0).all() and (info["attack_norm"] <= 0.2 + 1e-5).all()
    with pytest.raises(ValueError, match="trained on CartPole-v1, not Pendulum-v1"):
        make_vec(env_id="Pendulum-v1", attack="pgd", victim="ppo-cartpole")


def test_autoreset_mode_and_env_kwargs_reach_the_vector_env():
    envs = make_vec(2, eps=0.1, max_episode_steps=2, autoreset_mode=AutoresetMode.SAME_STEP)
    assert envs.autoreset_mode == AutoresetMode.SAME_STEP
    envs.reset(seed=0)
    envs.step(np.zeros(2, dtype=int))
    *_, truncated, info = envs.step(np.zeros(2, dtype=int))
    assert truncated.all() and info["_final_obs"].all()
    for final, clean in zip(info["final_obs"], info["final_obs_clean"], strict=True):
        assert 0 < np.abs(final - clean).max() <= 0.1 + 1e-6


def test_the_spec_rebuilds_the_same_batched_env():
    envs = make_vec(2, eps=0.1, seed=3)
    rebuilt = gym.make_vec(envs.spec)
    assert envs.spec.kwargs["eps"] == 0.1 and envs.spec.kwargs["num_envs"] == 2
    assert isinstance(rebuilt, vector_attacks.PerturbObservation)
    np.testing.assert_array_equal(rebuilt.reset(seed=5)[0], envs.reset(seed=5)[0])


def test_per_env_vectorization_still_works():
    envs = gym.make_vec(ID, 2, vectorization_mode="sync", eps=0.1)
    assert isinstance(envs, gym.vector.SyncVectorEnv)
    _, info = envs.reset(seed=0)
    assert info["_attack_norm"].all()


def test_bad_settings_are_clear_errors_before_any_env_is_built():
    with pytest.raises(ValueError, match="needs a victim"):
        make_vec(attack="pgd")
    with pytest.raises(
        ValueError, match=r"unknown vectorization 'ray'; allowed: \('sync', 'async'"
    ):
        make_vec(vectorization="ray")
    with pytest.raises(ValueError, match="unknown env id 'Nope-v0'"):
        make_vec(env_id="Nope-v0")


def test_every_vector_entry_point_is_importable():
    from gymnasium.envs.registration import load_env_creator

    batched = [e for e in GYM_ENVS if e.vector_entry_point]
    assert ID in {e.id for e in batched}
    for entry in batched:
        assert gym.spec(entry.id).vector_entry_point == entry.vector_entry_point
        assert callable(load_env_creator(entry.vector_entry_point))
