"""Every advrl multi-agent id under PettingZoo's own tests, in both of its APIs.

``pettingzoo.make("parallel", id)`` and ``pettingzoo.make("aec", id)`` (the turn-based version
of the same game) pass ``parallel_api_test`` / ``api_test`` (parallel_api_test itself runs in
tests/envs/test_forces.py), the seed tests, and ``max_cycles_test``: PettingZoo's
``max_cycles`` sets the episode length.
"""

from __future__ import annotations

import functools
import types

import numpy as np
import pettingzoo
import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_seed_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

from advrl.envs.cheap_talk_game import CheapTalkEnv
from advrl.envs.forces import ForceAdversaryEnv
from advrl.registration import PARALLEL_ENVS

IDS = [e.id for e in PARALLEL_ENVS]


@pytest.mark.parametrize("env_id", IDS)
def test_api_test_on_every_aec_env(env_id):
    env = pettingzoo.make("aec", env_id)
    assert isinstance(env.unwrapped, pettingzoo.ParallelEnv)  # the same game, turn by turn
    api_test(env, num_cycles=30)


@pytest.mark.parametrize("env_id", IDS)
def test_seed_tests_on_every_env(env_id):
    seed_test(functools.partial(pettingzoo.make, "aec", env_id), num_cycles=20)
    parallel_seed_test(functools.partial(pettingzoo.make, "parallel", env_id), num_cycles=20)


def seeded(kind: str, env_id: str, **kwargs):
    """An env whose later unseeded resets and sampled actions are reproducible (max_cycles_test
    seeds nothing, and a random InvertedPendulum can fall within its 4 cycles)."""
    env = pettingzoo.make(kind, env_id, **kwargs)
    env.reset(seed=0)
    for i, agent in enumerate(env.possible_agents):
        env.action_space(agent).seed(i)
    return env


@pytest.mark.parametrize("env_id", IDS)
def test_max_cycles_sets_the_episode_length(env_id):
    module = types.SimpleNamespace(
        parallel_env=functools.partial(seeded, "parallel", env_id),
        env=functools.partial(seeded, "aec", env_id),
    )
    max_cycles_test(module)  # PettingZoo's own check, with max_cycles=4


@pytest.mark.parametrize(
    "make",
    [
        lambda n: ForceAdversaryEnv("HalfCheetah-v5", max_cycles=n),
        lambda n: CheapTalkEnv("Pendulum-v1", max_cycles=n),
        lambda n: CheapTalkEnv(env=CheapTalkEnv("Pendulum-v1").task, max_cycles=n),
    ],
    ids=["force", "cheap-talk", "cheap-talk-given-env"],
)
def test_max_cycles_truncates_after_exactly_that_many_steps(make):
    env = make(7)
    env.reset(seed=0)
    for t in range(1, 8):
        _, _, terms, truncs, _ = env.step(
            {a: np.zeros(env.action_space(a).shape, np.float32) for a in env.agents}
        )
        assert all(truncs.values()) == (t == 7) and not any(terms.values())
    assert env.agents == []


def test_longer_max_cycles_than_the_tasks_own_time_limit():
    env = CheapTalkEnv("Pendulum-v1", max_cycles=250)  # Pendulum-v1 alone stops at 200
    env.reset(seed=0)
    actions = {"adversary": np.zeros(2, np.float32), "victim": np.zeros(1, np.float32)}
    for _ in range(249):
        assert not any(env.step(actions)[3].values())
    assert all(env.step(actions)[3].values())


@pytest.mark.parametrize("bad", [0, -1, 2.5, "10", True])
def test_bad_max_cycles_is_a_clear_error(bad):
    error = ValueError if isinstance(bad, int) and not isinstance(bad, bool) else TypeError
    with pytest.raises(error, match=f"max_cycles must be an integer >= 1 or None, got {bad!r}"):
        ForceAdversaryEnv("InvertedPendulum-v5", max_cycles=bad)
    with pytest.raises(error, match="max_cycles must be an integer >= 1"):
        CheapTalkEnv("CartPole-v1", max_cycles=bad)


def test_aec_entry_point_is_the_parallel_game_made_turn_based():
    env = pettingzoo.make("aec", "advrl/HopperForceGame-v0", strength=0.5)
    assert isinstance(env.env, parallel_to_aec_wrapper)
    assert env.unwrapped.strength == 0.5 and env.possible_agents == ["protagonist", "adversary"]
