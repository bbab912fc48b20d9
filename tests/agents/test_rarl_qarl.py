"""RARL and QARL trainers: smoke training, the temperature in the observation, save/load."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from advrl.agents.qarl import QARL, AppendTemperature, GammaTemperature, TemperatureSAC
from advrl.agents.rarl import RARL
from advrl.envs.forces import ADVERSARY, PROTAGONIST, ForceAdversaryEnv

TINY_PPO = dict(n_steps=64, batch_size=64, n_epochs=2, policy_kwargs=dict(net_arch=[8]))
TINY_SAC = dict(learning_starts=20, batch_size=32, policy_kwargs=dict(net_arch=[8]))


def test_temperature_is_the_last_adversary_observation():
    temp = GammaTemperature(50.0, 1000.0)
    env = AppendTemperature(ForceAdversaryEnv("InvertedPendulum-v5"), temp)
    obs, infos = env.reset(seed=0)
    assert obs[ADVERSARY].shape == (5,) and obs[PROTAGONIST].shape == (4,)
    alpha = infos[ADVERSARY]["temperature"]
    assert obs[ADVERSARY][-1] == pytest.approx(alpha, rel=1e-6) and alpha > 0
    np.testing.assert_array_equal(obs[ADVERSARY][:-1], obs[PROTAGONIST])
    step = env.step({PROTAGONIST: np.zeros(1, np.float32), ADVERSARY: np.zeros(2, np.float32)})
    assert step[0][ADVERSARY][-1] == pytest.approx(alpha, rel=1e-6)  # fixed for the episode
    assert env.reset(seed=0)[1][ADVERSARY]["temperature"] == alpha  # seeded
    assert env.reset(seed=1)[1][ADVERSARY]["temperature"] != alpha


def test_temperature_sac_uses_the_alpha_in_the_observation():
    import gymnasium as gym

    class ConstantAlpha(gym.ObservationWrapper):
        def __init__(self, env, alpha):
            super().__init__(env)
            low, high = env.observation_space.low, env.observation_space.high
            self.observation_space = gym.spaces.Box(
                np.append(low, 0), np.append(high, 1), dtype=np.float32
            )
            self.alpha = alpha

        def observation(self, obs):
            return np.append(obs, self.alpha).astype(np.float32)

    env = DummyVecEnv([lambda: ConstantAlpha(gym.make("Pendulum-v1"), 0.125)])
    model = TemperatureSAC("MlpPolicy", env, seed=0, **TINY_SAC)
    model.learn(60)
    assert model.logger.name_to_value["train/temperature"] == pytest.approx(0.125)


def test_rarl_trains_both_sides_and_round_trips(tmp_path):
    rarl = RARL("InvertedPendulum-v5", n_envs=2, algo_kwargs=TINY_PPO, seed=0)
    rarl.learn(iterations=2)
    assert rarl.protagonist.num_timesteps == rarl.adversary.num_timesteps == 256
    rarl.save(tmp_path / "pair")
    loaded = RARL.load(tmp_path / "pair")
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    for a, b in ((rarl.protagonist, loaded.protagonist), (rarl.adversary, loaded.adversary)):
        np.testing.assert_array_equal(a.predict(obs, deterministic=True)[0],
                                      b.predict(obs, deterministic=True)[0])  # fmt: skip


def test_rarl_progress_bar_covers_both_sides_and_is_silent_by_default(capsys):
    rarl = RARL("InvertedPendulum-v5", n_envs=2, algo_kwargs=TINY_PPO, seed=0)
    rarl.learn(iterations=1)
    assert capsys.readouterr().err == ""
    rarl.learn(iterations=2, progress_bar=True)
    err = capsys.readouterr().err
    assert "RARL" in err and "512/512" in err  # 2 x (128 protagonist + 128 adversary steps)


def test_rarl_with_a_sac_adversary():
    rarl = RARL("InvertedPendulum-v5", n_envs=1, algo_kwargs=TINY_PPO, adversary_algo="SAC",
                adversary_kwargs=TINY_SAC, adversary_steps=50)  # fmt: skip
    rarl.learn(iterations=1)
    assert rarl.adversary.num_timesteps == 50


def test_qarl_feeds_the_curriculum():
    qarl = QARL(
        "InvertedPendulum-v5", adversary_episodes=2, protagonist_episodes=2, update_every=4,
        curriculum="linear", linear_updates=2, sac_kwargs=TINY_SAC,
    )  # fmt: skip
    qarl.learn(iterations=1)
    assert qarl.concentration_history.tolist() == [50.0, 25.5]


def test_qarl_progress_bar_counts_the_episodes_of_both_sides(capsys):
    qarl = QARL("InvertedPendulum-v5", adversary_episodes=1, protagonist_episodes=2,
                sac_kwargs=TINY_SAC)  # fmt: skip
    qarl.learn(iterations=1)
    assert capsys.readouterr().err == ""
    qarl.learn(iterations=1, progress_bar=True)
    err = capsys.readouterr().err
    assert "QARL" in err and "3/3" in err


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RARL(algo="A3C"), "unknown algorithm 'A3C'"),
        (lambda: RARL(bodies=("tail",)), r"unknown body name\(s\) \['tail'\]"),
        (lambda: RARL(max_force=-2.0), "max_force must be a finite number >= 0"),
        (lambda: QARL(curriculum="cosine"), "unknown curriculum 'cosine'"),
        (lambda: RARL(n_envs=1, algo_kwargs=TINY_PPO).learn(0), "iterations must be >= 1"),
    ],
)
def test_bad_input(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_load_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no rarl.json"):
        RARL.load(tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_trainers_run_on_cuda():
    rarl = RARL("InvertedPendulum-v5", n_envs=4, algo_kwargs=dict(n_steps=512), device="cuda")
    rarl.learn(iterations=2)
    qarl = QARL("InvertedPendulum-v5", adversary_episodes=2, protagonist_episodes=2,
                sac_kwargs=dict(learning_starts=100), device="cuda")  # fmt: skip
    qarl.learn(iterations=1)
    for model in (rarl.protagonist, rarl.adversary, qarl.protagonist, qarl.adversary):
        assert all(p.is_cuda for p in model.policy.parameters())
