"""SmoothObservation, the batched smoothed rollouts and the adaptive attack."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from advrl.agents.smoothing import SmoothObservation, VecSmoothObservation
from advrl.agents.smoothing.attack import SmoothedPGD
from advrl.agents.smoothing.envs import smoothed_env
from advrl.agents.smoothing.rollout import FrameHistory, SmoothedTask, smoothed_rollouts
from advrl.testing import LinearPolicy

SMOOTH = "ppo-cartpole-smooth-sigma0.2"


def test_noise_has_the_requested_std_and_zero_mean():
    env = SmoothObservation(gym.make("CartPole-v1"), sigma=0.3, seed=0)
    obs, info = env.reset(seed=0)
    diffs = [obs - info["obs_clean"]]
    for _ in range(3000):
        obs, _, term, trunc, info = env.step(0)
        diffs.append(obs - info["obs_clean"])
        if term or trunc:
            obs, info = env.reset()
            diffs.append(obs - info["obs_clean"])
    d = np.stack(diffs)
    assert np.abs(d.mean(axis=0)).max() < 0.03
    np.testing.assert_allclose(d.std(axis=0), 0.3, rtol=0.06)


def test_seeded_noise_is_reproducible_and_leaves_the_env_rng_alone():
    a = SmoothObservation(gym.make("CartPole-v1"), 0.1)
    b = SmoothObservation(gym.make("CartPole-v1"), 0.1)
    np.testing.assert_array_equal(a.reset(seed=4)[0], b.reset(seed=4)[0])
    plain = gym.make("CartPole-v1")
    clean, _ = plain.reset(seed=4)
    np.testing.assert_array_equal(a.reset(seed=4)[1]["obs_clean"], clean)


def test_stacked_frames_are_noised_once_each():
    env = smoothed_env("CartPole-v1", sigma=0.2, frame_stack=5, max_episode_steps=200)
    check_env(env, skip_render_check=True)
    first, _ = env.reset(seed=0)
    assert first.shape == (5, 4)
    assert np.all(first == first[0])  # padded with the (noisy) reset frame
    second, *_ = env.step(0)
    np.testing.assert_array_equal(second[:-1], first[1:])  # old frames keep their noise
    assert not np.array_equal(second[-1], first[-1])


def test_smoothing_wraps_stacked_box_observations_too():
    from gymnasium.wrappers import FrameStackObservation

    env = SmoothObservation(FrameStackObservation(gym.make("CartPole-v1"), 3), 0.1, seed=0)
    obs, info = env.reset(seed=0)
    assert obs.shape == (3, 4) and info["obs_clean"].shape == (3, 4)
    assert not np.array_equal(obs, info["obs_clean"])


def test_vec_smoothing_is_seeded():
    def make():
        venv = VecSmoothObservation(DummyVecEnv([lambda: gym.make("CartPole-v1")] * 3), 0.2)
        venv.seed(1)
        return venv

    np.testing.assert_array_equal(make().reset(), make().reset())
    venv = make()
    venv.reset()
    obs, _, _, infos = venv.step(np.zeros(3, dtype=int))
    assert obs.shape == (3, 4) and infos[0]["obs_clean"].shape == (4,)
    assert not np.array_equal(obs[0], infos[0]["obs_clean"])


@pytest.mark.parametrize("sigma", [0.0, -0.1, float("nan")])
def test_bad_sigma(sigma):
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        SmoothObservation(gym.make("CartPole-v1"), sigma)


def test_non_box_observations_are_rejected():
    with pytest.raises(TypeError, match="Box observation space"):
        SmoothObservation(gym.make("FrozenLake-v1"), 0.1)


def test_frame_history_pads_and_shifts():
    noisy = th.arange(6.0).reshape(2, 3)
    first = FrameHistory(3).policy_input(noisy)
    assert first.shape == (2, 3, 3) and th.equal(first[:, 0], noisy)
    history = FrameHistory(3, first[:, 1:])
    nxt = history.policy_input(noisy + 100)
    assert th.equal(nxt[:, :2], first[:, 1:]) and th.equal(nxt[:, 2], noisy + 100)
    assert FrameHistory(3, first[:, 1:]).repeat(4).previous.shape == (8, 2, 3)


def test_batched_rollouts_match_the_one_env_gym_loop_in_distribution():
    import advrl.zoo

    victim = advrl.zoo.load(SMOOTH)
    policy = victim.torch_policy()
    task = SmoothedTask.from_zoo(victim)
    assert task == SmoothedTask("CartPole-v1", 0.2, 5, 200)
    batched = smoothed_rollouts(policy, task, 1000, n_envs=500, seed=0).returns
    again = smoothed_rollouts(policy, task, 1000, n_envs=500, seed=0).returns
    np.testing.assert_array_equal(batched, again)  # same seed, same returns
    env = smoothed_env(**gym.spec("advrl/SmoothedCartPole-v0").kwargs)
    looped = []
    for episode in range(150):
        obs, _ = env.reset(seed=10_000 + episode)
        total, done = 0.0, False
        while not done:
            x = policy.normalize(th.as_tensor(obs[None], dtype=th.float32))
            obs, r, term, trunc, _ = env.step(int(policy.action(x)[0]))
            total, done = total + r, term or trunc
        looped.append(total)
    # Same smoothed agent, same task: the means agree within a few standard errors.
    se = np.sqrt(batched.var() / len(batched) + np.var(looped) / len(looped))
    assert abs(batched.mean() - np.mean(looped)) < 4 * se + 0.5
    assert batched.max() <= 200


def test_smoothed_pgd_respects_the_episode_budget():
    import advrl.zoo

    victim = advrl.zoo.load(SMOOTH)
    task = SmoothedTask.from_zoo(victim)
    attack = SmoothedPGD(0.6, task.sigma, task.horizon, samples=4, steps=3)
    result = smoothed_rollouts(victim.torch_policy(), task, 40, n_envs=40, seed=0, attack=attack)
    assert result.applied_budget.max() <= 0.6 + 1e-5
    assert result.applied_budget.min() > 0.0


def test_smoothed_pgd_lowers_the_noise_averaged_probability():
    policy = LinearPolicy(th.tensor([[2.0, 0.0], [0.0, 2.0]]), discrete=True)
    frame = th.tensor([[0.3, 0.0], [0.1, 0.2]])
    attack = SmoothedPGD(1.0, sigma=0.1, horizon=1, samples=64)
    attack.reset(2)
    gen = th.Generator().manual_seed(0)
    delta = attack(frame, FrameHistory(1), policy, gen)
    assert th.allclose(delta.norm(dim=1), th.ones(2), atol=1e-5)  # spends the radius
    clean = policy.action(frame)
    assert (policy.action(frame + delta) != clean).all()  # and flips both actions
    assert float(attack.remaining_sq.max()) <= 1e-5  # nothing left of B = 1 after one step
    assert th.equal(attack(frame, FrameHistory(1), policy, gen), th.zeros_like(frame))


def test_smoothed_pgd_bad_budget():
    with pytest.raises(ValueError, match="budget must be a finite number >= 0"):
        SmoothedPGD(-1.0, 0.2, 200)
