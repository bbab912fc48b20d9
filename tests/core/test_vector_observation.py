"""advrl.vector_observation: autoreset modes, the info helpers and the two APIs' checks."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, VectorEnv

from advrl.vector_observation import (
    add_rows,
    autoreset_mode,
    check_vector_env,
    first_seed,
    info_row,
)


def cartpole():
    return gym.make("CartPole-v1")


@pytest.mark.parametrize("cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_the_mode_is_the_vector_envs_own_even_after_another_one_is_made(cls):
    # Gymnasium 1.2 writes the mode into the env class's shared metadata dict, so the
    # metadata of the first vector env then reports the second one's mode.
    envs = cls([cartpole], autoreset_mode=AutoresetMode.SAME_STEP)
    other = gym.vector.SyncVectorEnv([cartpole], autoreset_mode=AutoresetMode.DISABLED)
    try:
        assert autoreset_mode(envs) == AutoresetMode.SAME_STEP
        assert autoreset_mode(gym.vector.VectorWrapper(envs)) == AutoresetMode.SAME_STEP
        assert autoreset_mode(other) == AutoresetMode.DISABLED
    finally:
        envs.close()


class Bare(VectorEnv):
    def __init__(self, metadata):
        self.metadata, self.num_envs = metadata, 1


def test_a_mode_from_metadata_an_unsupported_one_and_a_missing_one():
    assert autoreset_mode(Bare({"autoreset_mode": AutoresetMode.DISABLED})) is (
        AutoresetMode.DISABLED
    )
    assert autoreset_mode(Bare({"autoreset_mode": "SameStep"})) is AutoresetMode.SAME_STEP
    with pytest.raises(ValueError, match=r"'Sometimes'.*allowed: \['NEXT_STEP', 'SAME_STEP'"):
        autoreset_mode(Bare({"autoreset_mode": "Sometimes"}))
    with pytest.warns(UserWarning, match="assuming AutoresetMode.NEXT_STEP"):
        assert autoreset_mode(Bare({})) is AutoresetMode.NEXT_STEP


def test_info_rows_round_trip_with_masks_and_nested_dicts():
    infos: dict = {}
    add_rows(infos, "norm", np.array([2]), np.array([0.5]), 3)
    add_rows(infos, "obs", None, {"a": np.zeros((3, 2)), "b": np.arange(3)}, 3)
    np.testing.assert_array_equal(infos["norm"], [0, 0, 0.5])
    np.testing.assert_array_equal(infos["_norm"], [False, False, True])
    np.testing.assert_array_equal(infos["obs"]["_b"], [True] * 3)
    assert sorted(info_row(infos, 0)) == ["obs"]
    row = info_row(infos, 2)
    assert row["norm"] == 0.5 and row["obs"]["b"] == 2 and "_norm" not in row


def test_first_seed_and_the_api_check():
    assert first_seed(None) is None and first_seed(4) == 4
    assert first_seed([None, 5, 6]) == 5 and first_seed([None]) is None
    with pytest.raises(TypeError, match="for an SB3 VecEnv use advrl.X"):
        check_vector_env(cartpole(), "Y", "advrl.X")
