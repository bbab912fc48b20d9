"""BARFI tasks: PD-controller auxiliary rewards, the batched CartPole, HalfCheetah's split."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from advrl.agents.barfi.cartpole import CartPoleAuxBatch
from advrl.agents.barfi.tasks import (
    AddControllerAux,
    SplitReward,
    cartpole_aux,
    controller_aux,
    pd_action,
)


def test_pd_controller_balances_cartpole_for_500_steps():
    env = gym.make("CartPole-v1")
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        for steps in range(1, 501):  # noqa: B007
            obs, _, terminated, truncated, _ = env.step(int(pd_action(obs)))
            if terminated or truncated:
                break
        assert steps == 500 and truncated and not terminated


def test_controller_aux_by_hand():
    obs = np.array([[0.0, 0.0, 0.1, 0.0], [0.0, 0.0, -0.1, 0.0]])  # PD: right, left
    action = np.array([1, 1])
    assert controller_aux(obs, action, "good").tolist() == [1.0, 0.0]
    assert controller_aux(obs, action, "bad", 2.0).tolist() == [0.0, 2.0]
    assert controller_aux(obs, action, "bad_penalty", 2.0).tolist() == [-2.0, 0.0]


@pytest.mark.filterwarnings("ignore::UserWarning")  # check_env on a wrapper / CartPole's inf bounds
@pytest.mark.parametrize("mode", ["good", "bad", "bad_penalty"])
def test_wrapper_keeps_primary_and_aux_in_info(mode):
    env = cartpole_aux(mode, scale=1.5)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    for action in (0, 1, 1, 0):
        expected_aux = float(controller_aux(obs, action, mode, 1.5))
        obs, reward, _, _, info = env.step(action)
        assert info["reward_true"] == 1.0
        assert info["reward_aux"] == expected_aux
        assert reward == info["reward_proxy"] == 1.0 + expected_aux


def test_batched_cartpole_matches_gymnasium_step_by_step():
    n = 6
    batch = CartPoleAuxBatch(n, "bad", max_episode_steps=40)
    batch.reset(seed=0)
    refs = []
    for i in range(n):  # a Gymnasium CartPole-v1 under the wrapper, from the same state
        env = cartpole_aux("bad", max_episode_steps=40)
        env.reset(seed=i)
        env.unwrapped.state = batch.state[i].copy()
        env._obs = batch.state[i].astype(np.float32)  # the wrapper's last observation
        refs.append(env)
    rng = np.random.default_rng(0)
    live = np.ones(n, dtype=bool)
    for _ in range(40):
        actions = rng.integers(0, 2, n)
        obs, r, term, trunc, info = batch.step(actions)
        for i in np.flatnonzero(live):
            ref_obs, ref_r, ref_term, ref_trunc, ref_info = refs[i].step(int(actions[i]))
            np.testing.assert_allclose(obs[i], ref_obs, atol=1e-6)
            assert (r[i], term[i], trunc[i]) == (ref_r, ref_term, ref_trunc)
            assert info["reward_aux"][i] == ref_info["reward_aux"]
            live[i] = not (ref_term or ref_trunc)
    assert not live.any()  # random actions end every episode within 40 steps


def test_batched_cartpole_autoresets_on_the_next_step():
    batch = CartPoleAuxBatch(2, "good", max_episode_steps=3)
    batch.reset(seed=0)
    for _ in range(3):
        _, r, term, trunc, _ = batch.step(np.zeros(2, dtype=np.int64))
    assert trunc.all() and not term.any()
    obs, r, term, trunc, info = batch.step(np.zeros(2, dtype=np.int64))
    assert r.tolist() == [0.0, 0.0] and info["reward_true"].tolist() == [0.0, 0.0]
    assert not (term | trunc).any() and np.abs(obs).max() <= 0.05
    assert batch.steps.tolist() == [0, 0]


def test_batched_cartpole_is_seeded_and_validates_input():
    a, b = CartPoleAuxBatch(3), CartPoleAuxBatch(3)
    np.testing.assert_array_equal(a.reset(seed=5)[0], b.reset(seed=5)[0])
    with pytest.raises(ValueError, match=r"actions must be 3 values in \{0, 1\}"):
        a.step(np.array([0, 1]))
    with pytest.raises(ValueError, match="num_envs must be an int >= 1, got 0"):
        CartPoleAuxBatch(0)
    with pytest.raises(ValueError, match=r"mode must be one of .*, got 'ugly'"):
        CartPoleAuxBatch(2, "ugly")
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got -1"):
        CartPoleAuxBatch(2, "bad", -1)


def test_wrapper_rejects_non_cartpole_envs():
    with pytest.raises(ValueError, match="CartPole-like env"):
        AddControllerAux(gym.make("MountainCar-v0"))


def test_halfcheetah_split_reward():
    env = SplitReward(gym.make("HalfCheetah-v5"))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.full(6, 0.5, dtype=np.float32))
    assert info["reward_true"] == info["reward_forward"]
    assert info["reward_aux"] == pytest.approx(-0.1 * 6 * 0.25)  # ctrl_cost_weight * |a|^2
    assert reward == pytest.approx(info["reward_true"] + info["reward_aux"])
    bad = SplitReward(gym.make("CartPole-v1"))
    bad.reset(seed=0)
    with pytest.raises(KeyError, match="no 'reward_forward'"):
        bad.step(0)
