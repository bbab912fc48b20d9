"""VecPerturbObservation across episode ends: terminal observations, reset infos, streams."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from advrl.attacks import PGD, GaussianNoise, PerturbObservation, UniformNoise
from advrl.attacks import VecPerturbObservation as VecPerturb
from advrl.testing import LinearPolicy

EPISODE = 10  # short episodes: every test crosses several episode ends


def short_cartpole():
    return gym.make("CartPole-v1", max_episode_steps=EPISODE)


def victim():
    return LinearPolicy(th.tensor([[0.0, 1.0, 2.0, 1.0], [0.0, -1.0, -2.0, -1.0]]), discrete=True)


def actions(n):
    return [(t // 3) % 2 for t in range(n)]  # fixed, so both runs visit the same states


def gym_twin_stream(attack, seed, n_steps):
    """(obs, obs_clean, attack_norm) of every observation the gym twin returns, in order."""
    env = PerturbObservation(short_cartpole(), attack, victim())
    obs, info = env.reset(seed=seed)
    stream = [(obs, info["obs_clean"], info["attack_norm"])]
    for action in actions(n_steps):
        obs, _, terminated, truncated, info = env.step(action)
        stream.append((obs, info["obs_clean"], info["attack_norm"]))
        if terminated or truncated:
            obs, info = env.reset()
            stream.append((obs, info["obs_clean"], info["attack_norm"]))
    return stream


def vec_stream(attack, seed, n_steps):
    """The same for VecPerturbObservation over one env: terminal entries come from the info,
    the next episode's first observation from ``reset_infos``."""
    venv = VecPerturb(DummyVecEnv([short_cartpole]), attack, victim())
    venv.seed(seed)
    obs = venv.reset()
    reset_info = venv.reset_infos[0]
    stream = [(obs[0], reset_info["obs_clean"], reset_info["attack_norm"])]
    ends = 0
    for action in actions(n_steps):
        obs, _, dones, infos = venv.step(np.array([action]))
        info = infos[0]
        if dones[0]:
            ends += 1
            stream.append(
                (
                    info["terminal_observation"],
                    info["terminal_obs_clean"],
                    info["terminal_attack_norm"],
                )
            )
            reset_info = venv.reset_infos[0]
            stream.append((obs[0], reset_info["obs_clean"], reset_info["attack_norm"]))
        else:
            stream.append((obs[0], info["obs_clean"], info["attack_norm"]))
    assert ends >= 3
    return stream


@pytest.mark.parametrize(
    "attack", [UniformNoise(0.1), GaussianNoise(0.1), PGD(0.1, steps=3)], ids=repr
)
def test_one_env_vec_stream_equals_the_gym_twin_over_several_episodes(attack):
    n_steps = 4 * EPISODE + 3
    twin, vec = gym_twin_stream(attack, 7, n_steps), vec_stream(attack, 7, n_steps)
    assert len(twin) == len(vec)
    for t, ((obs_g, clean_g, norm_g), (obs_v, clean_v, norm_v)) in enumerate(
        zip(twin, vec, strict=True)
    ):
        np.testing.assert_array_equal(obs_v, obs_g, err_msg=f"observation {t}")
        np.testing.assert_array_equal(clean_v, clean_g, err_msg=f"clean observation {t}")
        assert norm_v == norm_g, f"attack norm {t}"


@pytest.mark.parametrize("attack", [UniformNoise(0.1), PGD(0.1, steps=3)], ids=repr)
def test_terminal_observation_is_perturbed_and_the_clean_one_kept(attack):
    venv = VecPerturb(DummyVecEnv([short_cartpole] * 3), attack, victim(), seed=0)
    venv.reset()
    ended = 0
    for action in actions(3 * EPISODE):
        _, _, dones, infos = venv.step(np.full(3, action))
        for done, info in zip(dones, infos, strict=True):
            if not done:
                assert "terminal_obs_clean" not in info and "terminal_attack_norm" not in info
                continue
            ended += 1
            final, clean = info["terminal_observation"], info["terminal_obs_clean"]
            delta = np.abs(final - clean).max()
            assert 0 < delta <= 0.1 + 1e-6
            np.testing.assert_allclose(info["terminal_attack_norm"], delta, rtol=1e-5)
    assert ended >= 6


def test_reset_infos_carry_the_gym_twins_reset_keys():
    venv = VecPerturb(DummyVecEnv([short_cartpole] * 2), UniformNoise(0.1), victim(), seed=0)
    obs = venv.reset()
    for i, reset_info in enumerate(venv.reset_infos):
        assert np.abs(obs[i] - reset_info["obs_clean"]).max() == reset_info["attack_norm"] > 0
    first_infos = [dict(r) for r in venv.reset_infos]
    for action in actions(EPISODE):
        obs, _, dones, infos = venv.step(np.full(2, action))
    assert dones.all()
    for i, reset_info in enumerate(venv.reset_infos):  # the auto-reset replaced them
        np.testing.assert_array_equal(reset_info["obs_clean"], infos[i]["obs_clean"])
        assert not np.array_equal(reset_info["obs_clean"], first_infos[i]["obs_clean"])
        np.testing.assert_allclose(
            np.abs(obs[i] - reset_info["obs_clean"]).max(), reset_info["attack_norm"], rtol=1e-5
        )


def test_reset_infos_work_over_a_subprocess_vec_env():
    # SubprocVecEnv hands back its reset infos as a tuple (not a list) on every step.
    inner = SubprocVecEnv([short_cartpole] * 2)
    try:
        venv = VecPerturb(inner, UniformNoise(0.1), victim(), seed=0)
        venv.reset()
        for action in actions(EPISODE):
            obs, _, dones, infos = venv.step(np.full(2, action))
        assert dones.all() and isinstance(venv.reset_infos, list)
        for i, reset_info in enumerate(venv.reset_infos):
            np.testing.assert_array_equal(reset_info["obs_clean"], infos[i]["obs_clean"])
            assert "terminal_obs_clean" in infos[i]
    finally:
        inner.close()


def test_episode_ends_do_not_discard_the_pre_drawn_noise():
    draws = []

    class CountingUniform(UniformNoise):
        def sample(self, like, generator):
            draws.append(like.shape[0])
            return super().sample(like, generator)

    venv = VecPerturb(DummyVecEnv([short_cartpole] * 4), CountingUniform(0.1), victim(), seed=0)
    venv.reset()
    for action in actions(12 * EPISODE):  # 12 episode ends per env, 4 envs
        venv.step(np.full(4, action))
    # ~12 * 10 * 4 + 12 * 4 = 528 rows: one 1024-row block covers them all.
    assert len(draws) == 1, draws
