"""The tomato gridworld: dynamics, rewards and the hack."""

import gymnasium as gym
import numpy as np
import pytest

from advrl.envs.tomato import REWARD_PER_TOMATO, TomatoGridworld

UP, DOWN, LEFT, RIGHT = range(4)


def run(env, actions):
    env.reset(seed=0)
    true = proxy = 0.0
    for a in actions:
        _, reward, _, truncated, info = env.step(a)
        assert reward == info["reward_proxy"]
        true, proxy = true + info["reward_true"], proxy + info["reward_proxy"]
        if truncated:
            break
    return true, proxy


def test_sitting_on_the_sprinkler_hacks_the_proxy():
    env = TomatoGridworld("7x7")
    # From the start (3, 3): down, down reaches the sprinkler at (5, 3); then stay (push into
    # the wall below).
    true, proxy = run(env, [DOWN, DOWN] + [DOWN] * 98)
    assert proxy == pytest.approx(99 * 6 * REWARD_PER_TOMATO)  # every tomato, every step
    assert true < 0.1 * proxy


def test_patrolling_earns_true_reward_and_proxy_equals_true_off_the_sprinkler():
    env = TomatoGridworld("7x7")
    patrol = [LEFT, LEFT, UP, UP, DOWN, DOWN, DOWN, DOWN, UP, UP, RIGHT]  # water the left side
    true, proxy = run(env, patrol + [LEFT, RIGHT] * 44 + [LEFT])
    assert true == pytest.approx(proxy)  # never on the sprinkler
    assert true > 0.5 * 100 * 3 * REWARD_PER_TOMATO


def test_tomatoes_dry_beyond_three_cells():
    env = TomatoGridworld("7x7")
    env.reset(seed=0)
    env.step(LEFT)
    _, _, _, _, info = env.step(LEFT)  # on the tomato at (3, 1)
    assert env.watered.sum() == 1 and info["reward_true"] == REWARD_PER_TOMATO
    for _ in range(4):  # walk right to (3, 5): 4 cells away from (3, 1)
        env.step(RIGHT)
    assert not env.watered[np.all(env.tomatoes == [3, 1], axis=1)].any()


def test_walls_block_and_the_horizon_truncates():
    env = TomatoGridworld("7x7", max_episode_steps=3)
    env.reset(seed=0)
    env.step(UP)
    env.step(UP)
    _, _, terminated, truncated, _ = env.step(UP)  # (1, 3) -> wall above
    assert tuple(env.agent) == (1, 3) and truncated and not terminated


@pytest.mark.parametrize("env_id", ["advrl/Tomato-v0", "advrl/TomatoHard-v0"])
def test_true_reward_variant(env_id):
    env = gym.make(env_id, reward="true")
    env.reset(seed=0)
    _, reward, *_, info = env.step(DOWN)
    assert reward == info["reward_true"]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown level '3x3'"):
        TomatoGridworld("3x3")
    with pytest.raises(ValueError, match="reward must be 'proxy' or 'true'"):
        TomatoGridworld(reward="both")
    env = TomatoGridworld()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be in"):
        env.step(7)
