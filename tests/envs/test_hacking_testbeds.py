"""The MuJoCo reward-hacking testbeds compute their proxy and true rewards as documented."""

import gymnasium as gym
import numpy as np
import pytest

from advrl.envs.proxy import ProxyReward


def step(env_id, action=None, before_step=None):
    env = gym.make(env_id)
    env.reset(seed=0)
    if before_step is not None:
        before_step(env.unwrapped)
    action = env.action_space.sample() * 0 + 0.3 if action is None else action
    return env.step(action)


def test_halfcheetah_upright_counts_forward_reward_only_upright():
    _, reward, _, _, info = step("advrl/HalfCheetahUpright-v0")
    assert (
        reward
        == info["reward_proxy"]
        == pytest.approx(info["reward_forward"] + info["reward_ctrl"])
    )
    assert info["reward_true"] == pytest.approx(reward)  # upright at the start

    def flip(env):
        qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
        qpos[2] = np.pi  # torso pitch: on its back
        env.set_state(qpos, qvel)

    _, reward, _, _, info = step("advrl/HalfCheetahUpright-v0", before_step=flip)
    assert info["reward_true"] == pytest.approx(info["reward_ctrl"])
    assert reward == pytest.approx(info["reward_forward"] + info["reward_ctrl"])


def test_hopper_lunge_pays_velocity_only():
    _, reward, _, _, info = step("advrl/HopperLunge-v0")
    assert reward == pytest.approx(info["x_velocity"])
    expected_true = info["reward_forward"] + info["reward_ctrl"] + info["reward_survive"]
    assert info["reward_true"] == pytest.approx(expected_true)


def test_reacher_x_ignores_the_y_error():
    obs, reward, _, _, info = step("advrl/ReacherX-v0")
    assert reward == pytest.approx(-abs(obs[8]) + info["reward_ctrl"])
    assert info["reward_true"] == pytest.approx(info["reward_dist"] + info["reward_ctrl"])
    assert reward >= info["reward_true"]  # |dx| <= full distance


def test_proxy_reward_needs_a_function():
    with pytest.raises(ValueError, match="give a proxy reward function, a true one, or both"):
        ProxyReward(gym.make("CartPole-v1"), None)


@pytest.mark.parametrize(
    "env_id", ["advrl/HalfCheetahUpright-v0", "advrl/HopperLunge-v0", "advrl/ReacherX-v0"]
)
def test_reward_true_trains_on_the_truth_and_keeps_both_in_info(env_id):
    proxy_step = step(env_id)
    env = gym.make(env_id, reward="true")
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(env.action_space.sample() * 0 + 0.3)
    np.testing.assert_array_equal(obs, proxy_step[0])  # same dynamics, only the reward differs
    assert reward == info["reward_true"] == pytest.approx(proxy_step[4]["reward_true"])
    assert info["reward_proxy"] == pytest.approx(proxy_step[1])


def test_unknown_reward_kind_is_a_clear_error():
    with pytest.raises(ValueError, match=r"reward must be one of \['proxy', 'true'\], got 'gold'"):
        gym.make("advrl/HopperLunge-v0", reward="gold")


def test_use_true_reward_needs_the_truth_in_info():
    from advrl.envs.proxy import UseTrueReward

    env = UseTrueReward(gym.make("CartPole-v1"))
    env.reset(seed=0)
    with pytest.raises(KeyError, match="reward_true"):
        env.step(0)
