"""VecSmoothObservation across episode ends, and the sigma / seed checks of both wrappers."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from advrl.agents.smoothing import SmoothObservation, VecSmoothObservation

EPISODE = 10


def short_cartpole():
    return gym.make("CartPole-v1", max_episode_steps=EPISODE)


def actions(n):
    return [(t // 3) % 2 for t in range(n)]


def gym_twin_stream(sigma, seed, n_steps):
    env = SmoothObservation(short_cartpole(), sigma)
    obs, info = env.reset(seed=seed)
    stream = [(obs, info["obs_clean"])]
    for action in actions(n_steps):
        obs, _, terminated, truncated, info = env.step(action)
        stream.append((obs, info["obs_clean"]))
        if terminated or truncated:
            obs, info = env.reset()
            stream.append((obs, info["obs_clean"]))
    return stream


def vec_stream(sigma, seed, n_steps):
    venv = VecSmoothObservation(DummyVecEnv([short_cartpole]), sigma)
    venv.seed(seed)
    obs = venv.reset()
    stream = [(obs[0], venv.reset_infos[0]["obs_clean"])]
    ends = 0
    for action in actions(n_steps):
        obs, _, dones, infos = venv.step(np.array([action]))
        if dones[0]:
            ends += 1
            stream.append((infos[0]["terminal_observation"], infos[0]["terminal_obs_clean"]))
            stream.append((obs[0], venv.reset_infos[0]["obs_clean"]))
        else:
            stream.append((obs[0], infos[0]["obs_clean"]))
    assert ends >= 3
    return stream


def test_one_env_vec_noise_equals_the_gym_twin_over_several_episodes():
    n_steps = 4 * EPISODE + 3
    twin, vec = gym_twin_stream(0.2, 5, n_steps), vec_stream(0.2, 5, n_steps)
    assert len(twin) == len(vec)
    for t, ((obs_g, clean_g), (obs_v, clean_v)) in enumerate(zip(twin, vec, strict=True)):
        np.testing.assert_array_equal(obs_v, obs_g, err_msg=f"observation {t}")
        np.testing.assert_array_equal(clean_v, clean_g, err_msg=f"clean observation {t}")


def test_terminal_observation_is_noised_and_the_clean_one_kept():
    venv = VecSmoothObservation(DummyVecEnv([short_cartpole] * 3), 0.2, seed=0)
    venv.reset()
    ended = 0
    for action in actions(2 * EPISODE):
        _, _, dones, infos = venv.step(np.full(3, action))
        for done, info in zip(dones, infos, strict=True):
            if done:
                ended += 1
                final, clean = info["terminal_observation"], info["terminal_obs_clean"]
                assert final.shape == clean.shape == (4,) and not np.array_equal(final, clean)
            else:
                assert "terminal_obs_clean" not in info
    assert ended == 6


def test_reset_infos_hold_the_clean_reset_observation():
    venv = VecSmoothObservation(DummyVecEnv([short_cartpole] * 2), 0.2, seed=0)
    obs = venv.reset()
    first = [r["obs_clean"] for r in venv.reset_infos]
    assert all(not np.array_equal(obs[i], first[i]) for i in range(2))
    for action in actions(EPISODE):
        _, _, dones, infos = venv.step(np.full(2, action))
    assert dones.all()
    for i, reset_info in enumerate(venv.reset_infos):
        np.testing.assert_array_equal(reset_info["obs_clean"], infos[i]["obs_clean"])
        assert not np.array_equal(reset_info["obs_clean"], first[i])


@pytest.mark.parametrize("sigma", [1e308, 1e37])
@pytest.mark.parametrize("wrapper", ["gym", "vec"])
def test_a_sigma_whose_noise_is_not_finite_is_refused(sigma, wrapper):
    # 1e37 is finite, but 40 sigma overflows CartPole's float32 observations.
    with pytest.raises(ValueError, match="is too large: .* dtype float32"):
        if wrapper == "gym":
            SmoothObservation(gym.make("CartPole-v1"), sigma)
        else:
            VecSmoothObservation(DummyVecEnv([lambda: gym.make("CartPole-v1")]), sigma)


def test_a_float64_observation_takes_a_larger_sigma():
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float64)
    env = gym.wrappers.TransformObservation(gym.make("CartPole-v1"), np.float64, space)
    obs, _ = SmoothObservation(env, 1e37, seed=0).reset(seed=0)
    assert obs.dtype == np.float64 and np.isfinite(obs).all()
    with pytest.raises(ValueError, match="is too large: .* dtype float64"):
        SmoothObservation(env, 1e308)


@pytest.mark.parametrize("seed", [1.5, "0", True, th.Generator(), np.random.default_rng(0)])
def test_a_seed_that_is_not_an_int_is_a_clear_type_error(seed):
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None"):
        SmoothObservation(gym.make("CartPole-v1"), 0.1, seed=seed)
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None"):
        SmoothObservation(gym.make("CartPole-v1"), 0.1).reset(seed=seed)
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None"):
        VecSmoothObservation(DummyVecEnv([lambda: gym.make("CartPole-v1")]), 0.1, seed=seed)
    venv = VecSmoothObservation(DummyVecEnv([lambda: gym.make("CartPole-v1")]), 0.1)
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None"):
        venv.seed(seed)


def huge_observations():
    # Finite float32 observations at the dtype's edge: any upward noise overflows them.
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    edge = np.finfo(np.float32).max
    return gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"), lambda o: np.full(4, edge, np.float32), space
    )


def test_noise_that_overflows_a_huge_observation_is_an_error_not_an_inf():
    with pytest.raises(ValueError, match="smoothed observation is not finite"):
        SmoothObservation(huge_observations(), 1e36, seed=0).reset(seed=0)
    venv = VecSmoothObservation(DummyVecEnv([huge_observations]), 1e36, seed=0)
    with pytest.raises(ValueError, match="smoothed observation is not finite"):
        venv.reset()
