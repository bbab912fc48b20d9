"""advrl.envs.vector: ProxyReward, LearnedReward and AddCheapTalk on Gymnasium vector envs."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import DummyVecEnv
from vector_twins import MODES, actions, assert_same_stream, short_cartpole, sync, twin_stream
from vector_twins import vector_stream as stream

from advrl.agents.reward_models import RewardNet
from advrl.envs import (
    AddCheapTalk,
    LearnedReward,
    ProxyReward,
    VecAddCheapTalk,
    VecLearnedReward,
    VecProxyReward,
)
from advrl.envs import vector as vector_envs
from advrl.envs.cheap_talk import RandomMessage

REWARD_KEYS = ("reward_true", "reward_proxy")


def transition_proxy(obs, action, next_obs, info):
    """Depends on every part of the transition, so a wrong one (the auto-reset observation
    as next_obs, a stale obs) changes it."""
    return float(next_obs[2] - obs[2]) * 10 + float(action) + 0.5 * info.get("reward_true", 0)


class TransitionModel:
    """A deterministic reward model that records the batch sizes it is called with."""

    def __init__(self):
        self.batches = []

    def predict(self, obs, actions, next_obs):
        self.batches.append(len(obs))
        rewards = (next_obs[:, 2] - obs[:, 2]) * 10 + actions
        return rewards.astype(np.float32), np.abs(obs[:, 0]).astype(np.float32)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_proxy_reward_equals_the_gym_twin_in_every_autoreset_mode(mode):
    twin = twin_stream(ProxyReward(short_cartpole(), transition_proxy), 3, 25)
    envs = vector_envs.ProxyReward(sync(short_cartpole, mode), transition_proxy)
    vec = stream(envs, 3, 25, reward_keys=REWARD_KEYS)
    assert_same_stream(twin, vec, reward_keys=REWARD_KEYS)
    assert {r for _, r, _ in twin if r is not None} != {1.0}  # the proxy is not the reward


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_an_inner_wrappers_truth_wins_and_true_fns_are_computed(mode):
    def inner():
        return ProxyReward(short_cartpole(), lambda *a: 3.0)

    for single, vector, arg in [
        (ProxyReward, vector_envs.ProxyReward, transition_proxy),
        (LearnedReward, vector_envs.LearnedReward, TransitionModel()),
    ]:
        twin = twin_stream(single(inner(), arg), 3, 25)
        vec = stream(vector(sync(inner, mode), arg), 3, 25)
        assert_same_stream(twin, vec, reward_keys=REWARD_KEYS)
        assert all(info["reward_true"] == 1.0 for _, r, info in vec if r is not None)
    twin = twin_stream(ProxyReward(short_cartpole(), None, true=transition_proxy), 3, 25)
    envs = vector_envs.ProxyReward(sync(short_cartpole, mode), None, true=transition_proxy)
    assert_same_stream(twin, stream(envs, 3, 25), reward_keys=REWARD_KEYS)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_learned_reward_equals_the_gym_twin_in_every_autoreset_mode(mode):
    keys = (*REWARD_KEYS, "reward_std")
    twin = twin_stream(LearnedReward(short_cartpole(), TransitionModel()), 3, 25)
    model = TransitionModel()
    vec = stream(vector_envs.LearnedReward(sync(short_cartpole, mode), model), 3, 25)
    assert_same_stream(twin, vec, reward_keys=keys)
    assert model.batches == [1] * 25  # one call per real step, none on NEXT_STEP's autoresets


def test_next_step_autoresets_are_left_out_of_the_batch_and_masked():
    fns = [lambda k=k: gym.make("CartPole-v1", max_episode_steps=k) for k in (3, 4, 5)]
    model = TransitionModel()
    envs = vector_envs.LearnedReward(gym.vector.SyncVectorEnv(fns), model)
    envs.reset(seed=0)
    resetting = np.zeros(3, dtype=bool)
    for action in actions(14):
        _, rewards, term, trunc, info = envs.step(np.full(3, action))
        assert model.batches.pop() == (~resetting).sum() and not model.batches
        np.testing.assert_array_equal(info["_reward_proxy"], ~resetting)
        np.testing.assert_array_equal(rewards[resetting], 0.0)  # the vector env's own 0
        np.testing.assert_array_equal(info["reward_true"][~resetting], 1.0)
        resetting = term | trunc
        assert 0 < resetting.sum() < 3 or not resetting.any()


def test_a_partial_reset_restarts_only_the_envs_it_resets():
    seen = []

    def record(obs, action, next_obs, info):
        seen.append(obs)
        return 0.0

    envs = vector_envs.ProxyReward(sync(short_cartpole, AutoresetMode.DISABLED, 2), record)
    envs.reset(seed=0)
    after_step, *_ = envs.step(np.zeros(2, dtype=int))
    reset, _ = envs.reset(options={"reset_mask": np.array([True, False])})
    envs.step(np.zeros(2, dtype=int))
    np.testing.assert_array_equal(seen[2], reset[0])  # env 0 steps from its reset obs
    np.testing.assert_array_equal(seen[3], after_step[1])  # env 1 from where it was
    assert not np.array_equal(reset[0], after_step[0])


def cheap_talk_twin():
    return twin_stream(AddCheapTalk(short_cartpole(), RandomMessage(2)), 4, 25)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_cheap_talk_messages_equal_the_gym_twins_in_every_autoreset_mode(mode):
    envs = vector_envs.AddCheapTalk(sync(short_cartpole, mode), RandomMessage(2))
    assert_same_stream(cheap_talk_twin(), stream(envs, 4, 25), obs_keys=("obs_clean", "message"))


def test_every_wrapper_under_async_equals_its_twin_and_keeps_the_truth():
    # One AsyncVectorEnv for all three (each run starts with a seeded reset), with same-step
    # autoreset: the final observations come back from the worker in the info. The wrappers
    # stay referenced until the end: under Gymnasium 1.2 a collected wrapper closes its env.
    inner = gym.vector.AsyncVectorEnv([short_cartpole], autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        proxy = vector_envs.ProxyReward(inner, transition_proxy)
        model = TransitionModel()
        learned = vector_envs.LearnedReward(inner, model)
        talk = vector_envs.AddCheapTalk(inner, RandomMessage(2))
        proxy_run, learned_run = stream(proxy, 3, 25), stream(learned, 3, 25)
        talk_run = stream(talk, 4, 25)
    finally:
        inner.close()
    twin = twin_stream(ProxyReward(short_cartpole(), transition_proxy), 3, 25)
    assert_same_stream(twin, proxy_run, reward_keys=REWARD_KEYS)
    steps = [(r, info) for _, r, info in proxy_run if r is not None]
    assert all(info["reward_true"] == 1.0 and info["reward_proxy"] == r for r, info in steps)
    twin = twin_stream(LearnedReward(short_cartpole(), TransitionModel()), 3, 25)
    assert_same_stream(twin, learned_run, reward_keys=(*REWARD_KEYS, "reward_std"))
    assert model.batches == [1] * 25
    assert_same_stream(cheap_talk_twin(), talk_run, obs_keys=("obs_clean", "message"))
    for obs, _, info in talk_run:
        np.testing.assert_array_equal(obs[:4], info["obs_clean"])
        np.testing.assert_array_equal(obs[4:], info["message"])
        assert np.abs(info["message"]).max() <= 2 * np.pi and np.abs(info["message"]).min() > 0


def dict_cartpole():
    env = short_cartpole()
    space = gym.spaces.Dict({"state": env.observation_space})
    return gym.wrappers.TransformObservation(env, lambda o: {"state": o}, space)


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_dict_observations_get_the_message_key_final_ones_too(mode):
    twin = twin_stream(AddCheapTalk(dict_cartpole(), RandomMessage(2)), 4, 25)
    envs = vector_envs.AddCheapTalk(sync(dict_cartpole, mode), RandomMessage(2))
    assert sorted(envs.single_observation_space.spaces) == ["message", "state"]
    assert_same_stream(twin, stream(envs, 4, 25), obs_keys=("obs_clean", "message"))


def test_the_shared_engines_and_clear_errors_across_the_two_apis():
    gym_envs = sync(short_cartpole, AutoresetMode.NEXT_STEP)
    sb3_envs = DummyVecEnv([short_cartpole])
    net = RewardNet(gym_envs.single_observation_space, gym_envs.single_action_space, (8,))
    for sb3, vector, args in [
        (VecProxyReward, vector_envs.ProxyReward, (transition_proxy,)),
        (VecLearnedReward, vector_envs.LearnedReward, (net,)),
        (VecAddCheapTalk, vector_envs.AddCheapTalk, ("random",)),
    ]:
        with pytest.raises(TypeError, match=rf"advrl\.envs\.vector\.{vector.__name__}"):
            sb3(gym_envs, *args)
        with pytest.raises(TypeError, match=rf"DummyVecEnv.*advrl\.envs\.{sb3.__name__}"):
            vector(sb3_envs, *args)
    with pytest.raises(ValueError, match="a proxy reward function, a true one, or both"):
        vector_envs.ProxyReward(gym_envs, None)
    with pytest.raises(TypeError, match="predict"):
        vector_envs.LearnedReward(gym_envs, object())
    with pytest.raises(ValueError, match="dims"):
        vector_envs.AddCheapTalk(gym_envs, RandomMessage(3), dims=2)
    envs = vector_envs.ProxyReward(gym_envs, transition_proxy)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(1, dtype=int))
