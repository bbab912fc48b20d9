"""The adversary games on Gymnasium's vector API: equal to single envs, both autoreset modes."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import advrl  # noqa: F401
import advrl.zoo
from advrl.attacks.learned.adversary_env import ObservationAdversaryEnv, VecObservationAdversary
from advrl.attacks.learned.adversary_vector import ObservationAdversaryVectorEnv

BASE = advrl.zoo.load("ppo-cartpole")


def _victim(length: int):
    """The shipped CartPole victim in ``length``-step episodes: episode ends in short tests."""
    return dataclasses.replace(BASE, env_kwargs={**BASE.env_kwargs, "max_episode_steps": length})


KW = dict(victim=_victim(7), eps=0.5)
LENGTHS = (5, 6, 7)  # env i's episodes: ends at different steps, so resets are partial


def _actions(n: int, steps: int) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (steps, n, 4)).astype(np.float32)


def _single_trajectory(length: int, seed: int, actions: np.ndarray, mode: str):
    """What one env does under the vector env's protocol for ``mode``."""
    env = ObservationAdversaryEnv(_victim(length), eps=0.5)
    obs, _ = env.reset(seed=seed)
    rows, pending_reset = [], False
    for action in actions:
        if pending_reset:  # NEXT_STEP: this step is the reset
            obs, _ = env.reset()
            rows.append((obs, 0.0, False, False, None))
            pending_reset = False
            continue
        obs, reward, term, trunc, info = env.step(action)
        final = obs
        if term or trunc:
            if mode == "SameStep":
                obs, _ = env.reset()
            else:
                pending_reset = True
        rows.append((obs, reward, term, trunc, final if term or trunc else None))
    return rows


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_each_env_follows_its_single_twin_across_episode_ends(mode):
    n, steps = len(LENGTHS), 30
    envs = ObservationAdversaryVectorEnv(
        [lambda k=k: ObservationAdversaryEnv(_victim(k), eps=0.5) for k in LENGTHS], mode
    )
    assert envs.metadata["autoreset_mode"].value == mode
    actions = _actions(n, steps)
    twins = [_single_trajectory(k, 10 + i, actions[:, i], mode) for i, k in enumerate(LENGTHS)]
    obs, _ = envs.reset(seed=10)
    ends = 0
    for t in range(steps):
        obs, rewards, term, trunc, info = envs.step(actions[t])
        for i in range(n):
            t_obs, t_reward, t_term, t_trunc, t_final = twins[i][t]
            np.testing.assert_array_equal(obs[i], t_obs)
            assert (rewards[i], term[i], trunc[i]) == (t_reward, t_term, t_trunc)
            played = info  # the step's own info; under SAME_STEP an ended env's is final_info
            if t_final is not None:
                ends += 1
                if mode == "SameStep":
                    np.testing.assert_array_equal(info["final_obs"][i], t_final)
                    played = info["final_info"]
            if t_reward != 0:
                assert played["_attack_norm"][i] and played["attack_norm"][i] <= 0.5 + 1e-6
            else:  # NEXT_STEP's reset step: no game was played, so no attack was reported
                assert not info.get("_attack_norm", np.zeros(n, bool))[i]
    assert ends >= 3 * n
    envs.close()


def test_make_vec_builds_the_batched_game():
    envs = gym.make_vec("advrl/ObservationAdversary-v0", 3, vectorization_mode="vector_entry_point",
                        autoreset_mode="SameStep", **KW)  # fmt: skip
    assert isinstance(envs.unwrapped, ObservationAdversaryVectorEnv)
    assert envs.metadata["autoreset_mode"].value == "SameStep"
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 4)
    for _ in range(7):
        *_, truncated, info = envs.step(envs.action_space.sample())
    assert truncated.all() and info["_final_obs"].all()


def test_it_equals_the_sb3_twin_on_the_played_steps():
    n, steps = 2, 30
    actions = _actions(n, steps)
    gym_envs = ObservationAdversaryVectorEnv([lambda: ObservationAdversaryEnv(**KW)] * n,
                                             autoreset_mode="SameStep")  # fmt: skip
    sb3_envs = VecObservationAdversary([lambda: ObservationAdversaryEnv(**KW)] * n)
    gym_obs, _ = gym_envs.reset(seed=[3, 4])
    sb3_envs.seed(3)  # SB3 seeds env i with seed + i
    np.testing.assert_array_equal(gym_obs, sb3_envs.reset())
    for t in range(steps):
        gym_obs, gym_rewards, term, trunc, _ = gym_envs.step(actions[t])
        sb3_obs, sb3_rewards, dones, _ = sb3_envs.step(actions[t])
        np.testing.assert_array_equal(gym_obs, sb3_obs)
        np.testing.assert_array_equal(gym_rewards, sb3_rewards)
        np.testing.assert_array_equal(term | trunc, dones)


def test_one_victim_call_per_step_for_all_envs(monkeypatch):
    envs = ObservationAdversaryVectorEnv([lambda: ObservationAdversaryEnv(**KW)] * 4)
    envs.reset(seed=0)
    calls = []
    first = envs.envs[0]
    original = first.victim_actions
    monkeypatch.setattr(first, "victim_actions", lambda obs, rngs: calls.append(len(obs))
                        or original(obs, rngs))  # fmt: skip
    envs.step(envs.action_space.sample())
    assert calls == [4]


def test_the_director_game_has_a_vector_entry_point():
    envs = gym.make_vec("advrl/DirectionAdversary-v0", 2, vectorization_mode="vector_entry_point",
                        victim="ppo-cartpole", eps=0.5)  # fmt: skip
    obs, _ = envs.reset(seed=0)
    assert envs.single_action_space.shape == (2,) and obs.shape == (2, 4)
    _, rewards, *_, info = envs.step(envs.action_space.sample())
    np.testing.assert_array_equal(rewards, -info["reward_victim"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(autoreset_mode="Disabled"), "autoreset_mode"),
        (dict(num_envs=0), "num_envs"),
        (dict(eps=-1.0), "eps"),
    ],
)
def test_bad_settings_are_refused_before_any_env_is_built(kwargs, match):
    from advrl.attacks.learned.adversary_vector import observation_adversary_vec

    with pytest.raises(ValueError, match=match):
        observation_adversary_vec(**{"num_envs": 2, "victim": "ppo-cartpole", **kwargs})
