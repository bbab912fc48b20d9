"""The cheap-talk ParallelEnvs (parallel_api_test over the registered ids runs in
tests/envs/test_forces.py, parametrised over every PARALLEL_ENVS entry)."""

import math

import gymnasium as gym
import numpy as np
import pettingzoo
import pytest

from advrl.envs.agent_view import AgentView
from advrl.envs.cheap_talk import LearnedMessage
from advrl.envs.cheap_talk_game import (
    ADVERSARY,
    VICTIM,
    CheapTalkEnv,
    CheapTalkParallelEnv,
    message_policy,
    mpe_cheap_talk,
)


def test_message_reaches_the_victim_one_step_later_and_rewards_are_signed():
    env = CheapTalkEnv("CartPole-v1", dims=2, scale=2.0, adversary_reward="anti")
    ref = gym.make("CartPole-v1")
    obs, infos = env.reset(seed=3)
    ref_obs, _ = ref.reset(seed=3)
    np.testing.assert_array_equal(obs[ADVERSARY], ref_obs)
    np.testing.assert_array_equal(obs[VICTIM], np.r_[ref_obs, 0.0, 0.0])
    for t, msg in enumerate([[0.5, -1.0], [2.0, 0.25], [-0.1, 0.0]]):
        obs, rew, *_, infos = env.step({ADVERSARY: np.array(msg), VICTIM: t % 2})
        ref_obs, ref_rew, *_ = ref.step(t % 2)
        np.testing.assert_array_equal(obs[ADVERSARY], ref_obs)  # the truth, untouched
        np.testing.assert_allclose(obs[VICTIM][4:], 2.0 * np.clip(msg, -1, 1), rtol=1e-6)
        np.testing.assert_array_equal(infos[VICTIM]["obs_clean"], ref_obs)
        assert rew[VICTIM] == ref_rew and rew[ADVERSARY] == -ref_rew
    pro = CheapTalkEnv("CartPole-v1", adversary_reward="pro")
    pro.reset(seed=0)
    assert pro.step({ADVERSARY: np.zeros(2), VICTIM: 0})[1][ADVERSARY] == 1.0


def test_victim_view_through_agent_view():
    source = LearnedMessage(3, dims=2, hidden=(8,), seed=0)
    view = AgentView(CheapTalkEnv("Pendulum-v1"), VICTIM, {ADVERSARY: message_policy(source)})
    obs, info = view.reset(seed=0)
    assert view.observation_space.shape == (5,) and obs.shape == (5,)
    previous = info["obs_clean"]
    for _ in range(3):
        obs, *_, info = view.step(np.zeros(1, dtype=np.float32))
        expected = 2 * math.pi * np.tanh(source(previous[None])[0])
        np.testing.assert_allclose(obs[3:], expected, rtol=1e-5)
        previous = info["obs_clean"]


def test_mpe_message_is_broadcast_to_every_agent():
    env = mpe_cheap_talk("simple_spread_v3", N=2, adversary_reward="pro", max_cycles=5)
    obs, _ = env.reset(seed=0)
    assert env.possible_agents == [ADVERSARY, "agent_0", "agent_1"]
    np.testing.assert_array_equal(obs[ADVERSARY], np.r_[obs["agent_0"][:-2], obs["agent_1"][:-2]])
    actions = {a: 0 for a in env.base.agents}
    obs, rew, terms, truncs, _ = env.step({ADVERSARY: np.array([1.0, -0.5]), **actions})
    for agent in ("agent_0", "agent_1"):
        np.testing.assert_allclose(obs[agent][-2:], 2 * math.pi * np.array([1.0, -0.5]), rtol=1e-6)
    assert rew[ADVERSARY] == pytest.approx((rew["agent_0"] + rew["agent_1"]) / 2)
    for _ in range(4):
        obs, rew, terms, truncs, _ = env.step({ADVERSARY: np.zeros(2), **actions})
    assert truncs[ADVERSARY] and env.agents == []


def test_registered_ids_build():
    env = pettingzoo.make("parallel", "advrl/CheapTalkInvertedPendulum-v0")
    obs, _ = env.reset(seed=0)
    assert obs[VICTIM].shape == (6,) and obs[ADVERSARY].shape == (4,)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="adversary_reward must be one of .* got 'evil'"):
        CheapTalkEnv("CartPole-v1", adversary_reward="evil")
    with pytest.raises(ValueError, match="exactly one of env_id and env"):
        CheapTalkEnv()
    with pytest.raises(TypeError, match="Box or Dict observation space, got Discrete"):
        CheapTalkEnv("FrozenLake-v1")
    with pytest.raises(ValueError, match="dims must be an integer > 0, got 0"):
        CheapTalkEnv("CartPole-v1", dims=0)
    env = CheapTalkEnv("CartPole-v1")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"message must have shape \(2,\), got \(3,\)"):
        env.step({ADVERSARY: np.zeros(3), VICTIM: 0})
    with pytest.raises(ValueError, match="unknown mpe2 task 'simple_nope'"):
        mpe_cheap_talk("simple_nope")
    inner = CheapTalkParallelEnv(mpe_cheap_talk().base)
    with pytest.raises(ValueError, match="already has an agent named 'adversary'"):
        CheapTalkParallelEnv(inner)
