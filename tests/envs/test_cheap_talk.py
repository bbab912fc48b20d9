"""AddCheapTalk / VecAddCheapTalk and the message sources."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_util import make_vec_env

from advrl.envs.cheap_talk import (
    AddCheapTalk,
    FixedMessage,
    LearnedMessage,
    RandomMessage,
    VecAddCheapTalk,
)


class Recorder:
    """A source that records every call it gets (and tries to tamper with its input)."""

    dims = 3

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        obs = args[0]
        out = obs[:, :3].astype(np.float64) * 10.0
        obs[:] = 123.0  # mutating the copy must not reach the victim
        return out


def test_box_message_is_appended_with_widened_bounds():
    env = AddCheapTalk(gym.make("Pendulum-v1"), FixedMessage([0.5, -2.0]), scale=3.0)
    space = env.observation_space
    assert space.shape == (5,)
    np.testing.assert_allclose(space.low, [-1, -1, -8, -3, -3])
    np.testing.assert_allclose(space.high, [1, 1, 8, 3, 3])
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs[:3], info["obs_clean"])
    np.testing.assert_allclose(obs[3:], 3.0 * np.tanh([0.5, -2.0]), rtol=1e-6)
    for _ in range(5):
        obs, *_, info = env.step(env.action_space.sample())
        assert space.contains(obs)
        np.testing.assert_array_equal(obs[:3], info["obs_clean"])
    check_env(env, skip_render_check=True)


def test_messages_are_bounded_by_scale():
    env = AddCheapTalk(gym.make("CartPole-v1"), RandomMessage(4, std=100.0, seed=1), dims=4)
    obs, _ = env.reset(seed=0)
    for _ in range(20):
        assert np.abs(obs[4:]).max() <= 2 * math.pi + 1e-6
        assert np.abs(obs[4:]).max() > 6.0  # std 100 saturates tanh: close to the bound
        obs, *_, term, trunc, _ = env.step(0)
        if term or trunc:
            obs, _ = env.reset()


def test_dict_observation_gets_a_message_key():
    base = gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"),
        lambda o: {"state": o},
        gym.spaces.Dict({"state": gym.make("CartPole-v1").observation_space}),
    )
    env = AddCheapTalk(base, FixedMessage.from_message([1.0, -1.0], scale=2.0), scale=2.0)
    assert set(env.observation_space.spaces) == {"state", "message"}
    msg_space = env.observation_space["message"]
    assert msg_space.shape == (2,) and msg_space.low.tolist() == [-2, -2]
    obs, info = env.reset(seed=0)
    np.testing.assert_allclose(obs["message"], [1.0, -1.0], rtol=1e-5)
    np.testing.assert_array_equal(obs["state"], info["obs_clean"]["state"])
    assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="'state'"):
        AddCheapTalk(base, "random", key="state")


def test_the_source_sees_only_a_copy_of_the_observation():
    source = Recorder()
    env = AddCheapTalk(gym.make("CartPole-v1"), source, dims=3, scale=1.0)
    obs, info = env.reset(seed=0)
    for action in (0, 1, 1):
        obs, *_, info = env.step(action)
    # one positional argument, the (1, obs_dim) observation; no action, reward, env or victim
    assert len(source.calls) == 4
    for args, kwargs in source.calls:
        assert len(args) == 1 and kwargs == {}
        assert isinstance(args[0], np.ndarray) and args[0].shape == (1, 4)
    assert not np.any(obs[:4] == 123.0)  # the source's tampering did not reach the victim
    np.testing.assert_allclose(obs[4:], np.tanh(10.0 * info["obs_clean"][:3]), rtol=1e-5)


def test_message_is_a_function_of_the_observation_only():
    # Two different action histories reaching the same observation give the same message.
    source = LearnedMessage(4, dims=2, hidden=(8,), seed=3)
    env = AddCheapTalk(gym.make("CartPole-v1"), source)
    obs, _ = env.reset(seed=0)
    for action in (0, 1, 0, 0):
        obs, *_, info = env.step(action)
        expected = 2 * math.pi * np.tanh(source(info["obs_clean"][None])[0])
        np.testing.assert_allclose(obs[4:], expected, rtol=1e-5)
    state = np.array([0.1, -0.2, 0.03, 0.4], dtype=np.float32)
    direct = source(state[None])
    env.unwrapped.state = state.astype(np.float64)
    np.testing.assert_allclose(env.observation(state)[4:], 2 * math.pi * np.tanh(direct[0]))


def test_random_messages_are_reproducible_under_reset_seed():
    def run():
        env = AddCheapTalk(gym.make("CartPole-v1"), "random")
        obs = [env.reset(seed=5)[0]] + [env.step(0)[0] for _ in range(3)]
        return np.stack(obs)

    a, b = run(), run()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0, 4:], a[1, 4:])  # fresh message every step


def test_learned_message_flat_round_trip():
    src = LearnedMessage(4, dims=2, hidden=(16, 8), seed=0)
    assert src.num_params == 4 * 16 + 16 + 16 * 8 + 8 + 8 * 2 + 2
    vec = np.arange(src.num_params, dtype=np.float32) / 100
    src.set_flat(vec)
    np.testing.assert_array_equal(src.flat(), vec)
    np.testing.assert_array_equal(
        LearnedMessage(4, seed=7).flat(), LearnedMessage(4, seed=7).flat()
    )
    with pytest.raises(ValueError, match="expected 234 parameters, got 3"):
        src.set_flat(np.zeros(3))


@pytest.mark.parametrize("dims", [0, -1, 1.5, True])
def test_bad_message_dims(dims):
    with pytest.raises(ValueError, match="dims must be an integer > 0"):
        AddCheapTalk(gym.make("CartPole-v1"), "random", dims=dims)
    with pytest.raises(ValueError, match="dims must be an integer > 0"):
        RandomMessage(dims)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(TypeError, match="Box or Dict observation space, got Discrete"):
        AddCheapTalk(gym.make("FrozenLake-v1"), "random")
    env2d = gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"),
        lambda o: o.reshape(2, 2),
        gym.spaces.Box(-np.inf, np.inf, (2, 2), np.float32),
    )
    with pytest.raises(ValueError, match=r"must be 1-D .* got shape \(2, 2\)"):
        AddCheapTalk(env2d, "random")
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got 0"):
        AddCheapTalk(gym.make("CartPole-v1"), "random", scale=0)
    with pytest.raises(ValueError, match="makes 2-dim messages but dims=3"):
        AddCheapTalk(gym.make("CartPole-v1"), FixedMessage([0, 0]), dims=3)
    with pytest.raises(ValueError, match="unknown message source 'loud'"):
        AddCheapTalk(gym.make("CartPole-v1"), "loud")
    with pytest.raises(TypeError, match="source must be callable"):
        AddCheapTalk(gym.make("CartPole-v1"), 3)
    bad = AddCheapTalk(gym.make("CartPole-v1"), lambda obs: np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"returned shape \(1, 5\), expected \(1, 2\)"):
        bad.reset(seed=0)


def test_vec_variant_matches_the_single_env_one():
    source = LearnedMessage(4, dims=2, hidden=(8,), seed=1)
    venv = VecAddCheapTalk(make_vec_env("CartPole-v1", n_envs=2, seed=0), source)
    single = AddCheapTalk(gym.make("CartPole-v1"), source)
    vobs = venv.reset()
    sobs, _ = single.reset(seed=0)
    assert vobs.shape == (2, 6) and venv.observation_space.shape == (6,)
    np.testing.assert_allclose(vobs[0], sobs, rtol=1e-5)
    ended = False
    for _ in range(60):
        vobs, _, dones, infos = venv.step(np.zeros(2, dtype=int))
        np.testing.assert_allclose(vobs[:, :4], np.stack([i["obs_clean"] for i in infos]))
        for done, info in zip(dones, infos, strict=True):
            if done:
                ended = True
                final = info["terminal_observation"]
                assert final.shape == (6,)
                expect = 2 * math.pi * np.tanh(source(final[None, :4])[0])
                np.testing.assert_allclose(final[4:], expect, rtol=1e-5)
    assert ended


def test_spec_records_the_channel_and_rebuilds_it():
    env = AddCheapTalk(gym.make("CartPole-v1"), "random", dims=3, scale=1.5)
    (wrapper,) = env.spec.additional_wrappers
    assert wrapper.name == "AddCheapTalk" and wrapper.kwargs["dims"] == 3
    rebuilt = gym.make(env.spec)
    assert rebuilt.observation_space.shape == (7,) and rebuilt.observation_space.high[-1] == 1.5


EPISODE = 10


def short_cartpole():
    return gym.make("CartPole-v1", max_episode_steps=EPISODE)


def as_dict_obs(env):
    return gym.wrappers.TransformObservation(
        env, lambda o: {"state": o}, gym.spaces.Dict({"state": env.observation_space})
    )


def talk_actions(n):
    return [(t // 3) % 2 for t in range(n)]


def test_one_env_vec_random_messages_equal_the_single_env_ones_across_episodes():
    from stable_baselines3.common.vec_env import DummyVecEnv

    n_steps = 4 * EPISODE + 3
    single = AddCheapTalk(short_cartpole(), RandomMessage(2))
    obs, info = single.reset(seed=3)
    twin = [(obs, info["obs_clean"], info["message"])]
    for action in talk_actions(n_steps):
        obs, _, terminated, truncated, info = single.step(action)
        twin.append((obs, info["obs_clean"], info["message"]))
        if terminated or truncated:
            obs, info = single.reset()
            twin.append((obs, info["obs_clean"], info["message"]))

    venv = VecAddCheapTalk(DummyVecEnv([short_cartpole]), RandomMessage(2))
    venv.seed(3)
    obs = venv.reset()
    reset_info = venv.reset_infos[0]
    vec = [(obs[0], reset_info["obs_clean"], reset_info["message"])]
    for action in talk_actions(n_steps):
        obs, _, dones, infos = venv.step(np.array([action]))
        info = infos[0]
        if dones[0]:
            final = info["terminal_observation"]
            vec.append((final, info["terminal_obs_clean"], info["terminal_message"]))
            reset_info = venv.reset_infos[0]
            vec.append((obs[0], reset_info["obs_clean"], reset_info["message"]))
        else:
            vec.append((obs[0], info["obs_clean"], info["message"]))
    assert len(vec) == len(twin) >= n_steps + 4  # several episode ends
    for t, (got, want) in enumerate(zip(vec, twin, strict=True)):
        for part, g, w in zip(("obs", "obs_clean", "message"), got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"{part} {t}")


def test_vec_infos_and_reset_infos_carry_the_message_and_the_clean_observation():
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = VecAddCheapTalk(DummyVecEnv([lambda: as_dict_obs(short_cartpole())] * 2), "random")
    venv.seed(0)
    obs = venv.reset()
    for i, reset_info in enumerate(venv.reset_infos):
        np.testing.assert_array_equal(reset_info["obs_clean"]["state"], obs["state"][i])
        np.testing.assert_array_equal(reset_info["message"], obs["message"][i])
        assert "message" not in reset_info["obs_clean"]
    for action in talk_actions(EPISODE):
        obs, _, dones, infos = venv.step(np.full(2, action))
        for i, info in enumerate(infos):
            np.testing.assert_array_equal(info["message"], obs["message"][i])
    assert dones.all()
    for i, (info, reset_info) in enumerate(zip(infos, venv.reset_infos, strict=True)):
        final, clean = info["terminal_observation"], info["terminal_obs_clean"]
        assert set(final) == {"state", "message"} and set(clean) == {"state"}
        np.testing.assert_array_equal(final["state"], clean["state"])
        np.testing.assert_array_equal(final["message"], info["terminal_message"])
        np.testing.assert_array_equal(reset_info["obs_clean"]["state"], obs["state"][i])
        np.testing.assert_array_equal(reset_info["message"], obs["message"][i])
