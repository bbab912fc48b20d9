"""Cheap talk on NetHack: AddCheapTalk adds a channel to nle's Dict observation."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.utils.env_checker import check_env

import advrl  # noqa: F401
from advrl.agents.oni.extractor import NetHackExtractor
from advrl.envs.cheap_talk import AddCheapTalk, FixedMessage, RandomMessage
from tests.conftest import requires_nle

pytestmark = requires_nle  # every test here runs a NetHack task


def test_cheap_talk_channel_on_nethack_dict_observations():
    env = AddCheapTalk(gym.make("advrl/NetHackOracle-v0"), RandomMessage(2, seed=0),
                       key="cheap_talk")  # fmt: skip
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert set(obs) == {"glyphs", "chars", "blstats", "message", "cheap_talk"}
    assert obs["cheap_talk"].shape == (2,) and np.abs(obs["cheap_talk"]).max() <= 2 * np.pi
    assert (obs["message"] == info["obs_clean"]["message"]).all()  # the game is untouched
    talk = [env.step(1)[0]["cheap_talk"].copy() for _ in range(5)]
    env.reset(seed=0)
    assert all((env.step(1)[0]["cheap_talk"] == t).all() for t in talk)  # seeded
    with pytest.raises(ValueError, match="not already in the Dict observation"):
        AddCheapTalk(gym.make("advrl/NetHackOracle-v0"), "random")  # nle has a "message" key


def test_the_extractor_reads_the_channel():
    env = AddCheapTalk(gym.make("advrl/NetHackScore-v0"), FixedMessage([0.0, 0.0]),
                       key="cheap_talk")  # fmt: skip
    extractor = NetHackExtractor(env.observation_space, features_dim=8, extra_keys=("cheap_talk",))
    obs, _ = env.reset(seed=0)
    batch = {k: th.as_tensor(np.asarray(v), dtype=th.float32)[None] for k, v in obs.items()}
    quiet = extractor(batch)
    batch["cheap_talk"] = th.full((1, 2), 3.0)
    assert not th.allclose(quiet, extractor(batch))  # the message changes the features
    with pytest.raises(ValueError, match="cheap_talk"):
        NetHackExtractor(gym.make("advrl/NetHackScore-v0").observation_space,
                         extra_keys=("cheap_talk",))  # fmt: skip
