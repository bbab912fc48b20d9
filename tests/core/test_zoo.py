"""Shipped checkpoints: format, cards, safe loading, round trips and clear errors."""

import json

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO

import advrl.zoo
from advrl.zoo import CheckpointError, ObsStats, load_file
from advrl.zoo.checkpoint import save_checkpoint
from tests.conftest import tiny

EXPECTED = {"ppo-hopper", "ppo-walker2d", "ppo-halfcheetah", "ppo-ant", "ppo-cartpole"}


def test_the_zoo_ships_every_policy_the_core_issue_names():
    assert set(advrl.zoo.names()) >= EXPECTED


@pytest.mark.parametrize("name", advrl.zoo.names())
def test_each_checkpoint_is_small_and_has_a_card(name):
    path = advrl.zoo.ZOO_DIR / f"{name}.safetensors"
    assert path.stat().st_size < 200_000  # "well under 1 MB"
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["command"].startswith("python -m advrl.zoo.train")
    assert f"--seed {card['seed']}" in card["command"]
    victim = advrl.zoo.load(name)
    assert victim.env_id == card["env_id"]
    if "game" in card:  # a player of a two-player game: results against reference opponents
        assert set(card["results"]) == {"random", "scripted"}
        assert all(r["episodes"] == 100 for r in card["results"].values())
        assert victim.obs_stats is None  # observations are O(1); both seats share no stats
        return
    assert card["clean_return"]["episodes"] == 50
    assert victim.obs_stats is not None


def test_round_trip_preserves_predictions(tmp_path):
    model = tiny(PPO, "Pendulum-v1")
    stats = ObsStats(mean=np.arange(3.0), var=np.ones(3) * 4, clip_obs=5.0)
    path = tmp_path / "mine.safetensors"
    save_checkpoint(
        path,
        algo="PPO",
        env_id="Pendulum-v1",
        policy=model.policy,
        policy_kwargs=dict(net_arch=[8]),
        obs_stats=stats,
    )
    loaded = load_file(path)
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        loaded.model.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    np.testing.assert_array_equal(loaded.obs_stats.mean, stats.mean)
    assert loaded.obs_stats.clip_obs == 5.0
    policy = loaded.torch_policy()
    assert th.allclose(policy.normalize(th.zeros(1, 3)), th.tensor([[0.0, -0.5, -1.0]]))


def test_unknown_name_lists_the_zoo():
    with pytest.raises(KeyError, match="unknown zoo policy 'ppo-humanoid'.*ppo-hopper"):
        advrl.zoo.load("ppo-humanoid")


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_file(tmp_path / "nope.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00\x01 definitely not safetensors")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_file(corrupt)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((advrl.zoo.ZOO_DIR / "ppo-cartpole.safetensors").read_bytes()[:500])
    with pytest.raises(CheckpointError):
        load_file(truncated)


def test_checkpoint_without_header_or_with_wrong_weights(tmp_path):
    from safetensors.torch import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"w": th.zeros(2)}, str(bare))
    with pytest.raises(CheckpointError, match="no 'advrl' header"):
        load_file(bare)
    model = tiny(PPO, "Pendulum-v1")
    wrong = tmp_path / "wrong.safetensors"
    save_checkpoint(
        wrong, algo="PPO", env_id="Pendulum-v1", policy=model.policy,
        policy_kwargs=dict(net_arch=[16]),
    )  # fmt: skip
    with pytest.raises(CheckpointError, match="do not fit"):
        load_file(wrong)


@pytest.mark.expensive
@pytest.mark.parametrize("name", ["ppo-cartpole", "ppo-hopper"])
def test_card_clean_return_is_reproduced(name):
    from stable_baselines3.common.evaluation import evaluate_policy

    victim = advrl.zoo.load(name)
    clean = victim.card["clean_return"]
    returns, _ = evaluate_policy(
        victim.model,
        victim.make_vec_env(n_envs=10, seed=clean["eval_seed"]),
        n_eval_episodes=50,
        deterministic=True,
        return_episode_rewards=True,
    )
    # Bit-for-bit on the stack the card was measured on. MuJoCo releases change the contact
    # solver's rounding, which 1,000 chaotic Hopper steps amplify (MuJoCo 4.0 vs the card's
    # 3.x: 3648.06 vs 3648.17), so across MuJoCo versions only 0.1% is asked for.
    import mujoco

    same_physics = victim.card.get("versions", {}).get("mujoco") == mujoco.__version__
    assert np.mean(returns) == pytest.approx(clean["mean"], rel=1e-6 if same_physics else 1e-3)


def test_obs_stats_are_copied_from_vec_normalize_and_cards_name_the_stack():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from advrl.zoo.checkpoint import ObsStats, stack_versions

    venv = VecNormalize(make_vec_env("CartPole-v1", 2, seed=0), clip_obs=7.0)
    venv.reset()
    for _ in range(5):
        venv.step([0, 1])
    stats = ObsStats.from_vec_normalize(venv)
    assert stats.clip_obs == 7.0 and stats.epsilon == venv.epsilon
    np.testing.assert_array_equal(stats.mean, venv.obs_rms.mean)
    venv.step([1, 0])  # the running statistics move on; the copy does not
    assert not np.array_equal(stats.mean, venv.obs_rms.mean)
    assert set(stack_versions()) == {"python", "torch", "stable_baselines3", "gymnasium", "mujoco"}
