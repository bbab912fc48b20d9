"""advrl.attacks.vector.PerturbObservation: Gymnasium vector envs, against the gym twin."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import DummyVecEnv
from vector_twins import (
    MODES,
    actions,
    assert_same_stream,
    short_cartpole,
    sync,
    twin_stream,
    vector_stream,
)

from advrl.attacks import PGD, PerturbObservation, UniformNoise, VecPerturbObservation
from advrl.attacks import vector as vector_attacks
from advrl.testing import LinearPolicy

EPS = 0.1
KEYS = ("obs_clean", "attack_norm")


def victim():
    return LinearPolicy(th.tensor([[0.0, 1.0, 2.0, 1.0], [0.0, -1.0, -2.0, -1.0]]), discrete=True)


def perturbed(envs, attack=None, seed=None):
    return vector_attacks.PerturbObservation(envs, attack or PGD(EPS, steps=3), victim(), seed=seed)


def twin(attack):
    return twin_stream(PerturbObservation(short_cartpole(), attack, victim()), 7, 25)


@pytest.mark.parametrize("attack", [UniformNoise(EPS), PGD(EPS, steps=3)], ids=repr)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_one_env_stream_equals_the_gym_twin_in_every_autoreset_mode(mode, attack):
    vec = vector_stream(perturbed(sync(short_cartpole, mode), attack), 7, 25)
    assert_same_stream(twin(attack), vec, obs_keys=KEYS)


def test_under_async_the_stream_equals_the_twin_and_stays_within_budget():
    # The final observations come back from the worker process in the info.
    inner = gym.vector.AsyncVectorEnv([short_cartpole], autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        vec = vector_stream(perturbed(inner), 7, 25)
    finally:
        inner.close()
    assert_same_stream(twin(PGD(EPS, steps=3)), vec, obs_keys=KEYS)
    for obs, _, info in vec:
        delta = np.abs(obs - info["obs_clean"]).max()
        assert 0 < delta <= EPS + 1e-6
        np.testing.assert_allclose(info["attack_norm"], delta, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_every_env_is_perturbed_within_budget_and_the_rewards_are_untouched(mode):
    envs, clean = perturbed(sync(short_cartpole, mode, 3), seed=0), sync(short_cartpole, mode, 3)
    obs, info = envs.reset(seed=0)
    clean_obs, _ = clean.reset(seed=0)
    np.testing.assert_array_equal(info["obs_clean"], clean_obs)
    for action in actions(20):
        batch = np.full(3, action)
        obs, rewards, term, trunc, info = envs.step(batch)
        clean_obs, clean_rewards, *_ = clean.step(batch)
        np.testing.assert_array_equal(rewards, clean_rewards)
        np.testing.assert_array_equal(info["obs_clean"], clean_obs)
        delta = np.abs(obs - info["obs_clean"]).max(axis=1)
        assert (delta > 0).all() and (delta <= EPS + 1e-6).all() and info["_attack_norm"].all()
        np.testing.assert_allclose(info["attack_norm"], delta, rtol=1e-5)
        if mode == AutoresetMode.DISABLED and (term | trunc).any():
            mask = term | trunc
            envs.reset(options={"reset_mask": mask})
            clean.reset(options={"reset_mask": mask.copy()})


def test_same_step_final_observations_are_perturbed_and_the_clean_ones_kept():
    envs = perturbed(sync(short_cartpole, AutoresetMode.SAME_STEP, 2), seed=0)
    envs.reset(seed=0)
    ends = 0
    for action in actions(20):
        _, _, term, trunc, info = envs.step(np.full(2, action))
        done = term | trunc
        np.testing.assert_array_equal(info.get("_final_obs", np.zeros(2, bool)), done)
        if not done.any():
            assert "final_obs_clean" not in info
            continue
        ends += done.sum()
        np.testing.assert_array_equal(info["_final_obs_clean"], done)
        final = info["final_info"]
        np.testing.assert_array_equal(final["_attack_norm"], done)
        for i in np.flatnonzero(done):
            clean = info["final_obs_clean"][i]
            np.testing.assert_array_equal(final["obs_clean"][i], clean)
            delta = np.abs(info["final_obs"][i] - clean).max()
            assert 0 < delta <= EPS + 1e-6
            np.testing.assert_allclose(final["attack_norm"][i], delta, rtol=1e-5)
    assert ends >= 4


def test_a_partial_reset_perturbs_only_the_envs_it_resets():
    envs = perturbed(sync(short_cartpole, AutoresetMode.DISABLED, 3), UniformNoise(EPS), seed=0)
    before, _ = envs.reset(seed=0)
    obs, info = envs.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(obs[[0, 2]], before[[0, 2]])  # what the agent saw
    np.testing.assert_array_equal(info["_attack_norm"], [False, True, False])
    assert 0 < np.abs(obs[1] - info["obs_clean"][1]).max() <= EPS + 1e-6


def test_one_batched_attack_call_per_step_for_all_envs():
    calls = []

    class CountingPGD(PGD):
        def __call__(self, obs, policy, generator):
            calls.append(obs.shape[0])
            return super().__call__(obs, policy, generator)

    envs = perturbed(sync(short_cartpole, AutoresetMode.NEXT_STEP, 4), CountingPGD(EPS, steps=2))
    envs.reset(seed=0)
    for _ in range(3):
        envs.step(np.zeros(4, dtype=int))
    assert calls == [4] * 4


def test_reset_seed_reproduces_the_perturbations():
    envs = perturbed(sync(short_cartpole, AutoresetMode.NEXT_STEP, 2), UniformNoise(EPS))
    first, _ = envs.reset(seed=3)
    envs.step(np.zeros(2, dtype=int))
    again, _ = envs.reset(seed=3)
    listed, _ = envs.reset(seed=[3, 4])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, listed)


def test_each_api_gets_a_clear_error_naming_the_other_apis_wrapper():
    # The issue: VecPerturbObservation over a SyncVectorEnv failed with an opaque
    # "TypeError: SyncVectorEnv.get_attr() takes 2 positional arguments but 3 were given".
    gym_envs = sync(short_cartpole, AutoresetMode.NEXT_STEP)
    with pytest.raises(TypeError, match=r"SyncVectorEnv.*advrl\.attacks\.vector\.PerturbObs"):
        VecPerturbObservation(gym_envs, PGD(EPS), victim())
    with pytest.raises(TypeError, match=r"DummyVecEnv.*advrl\.attacks\.VecPerturbObservation"):
        vector_attacks.PerturbObservation(DummyVecEnv([short_cartpole]), PGD(EPS), victim())


def test_bad_inputs_are_clear_errors():
    discrete = gym.vector.SyncVectorEnv([lambda: gym.make("FrozenLake-v1")])
    with pytest.raises(TypeError, match="Box observation space"):
        vector_attacks.PerturbObservation(discrete, PGD(EPS), victim())
    with pytest.raises(ValueError, match="unknown attack space"):
        vector_attacks.PerturbObservation(
            sync(short_cartpole, AutoresetMode.NEXT_STEP), PGD(EPS), victim(), space="nope"
        )
