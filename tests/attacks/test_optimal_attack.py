"""The optimal attack: its Gymnasium env, the attack, its artefact and its errors."""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import advrl.zoo
from advrl.attacks import evaluate_under_attack
from advrl.attacks.learned import (
    ObservationAdversaryEnv,
    OptimalAttack,
    load_learned_attack,
    load_optimal_attack,
    train_optimal_attack,
    victim_digest,
)
from advrl.attacks.learned.adversary_env import perturbation_from_action
from advrl.attacks.learned.train import main as train_main
from advrl.testing import LinearPolicy
from advrl.zoo import CheckpointError

TINY = dict(n_envs=1, n_steps=64, batch_size=64, n_epochs=1, policy_kwargs=dict(net_arch=[8]))


@pytest.fixture(scope="module")
def hopper_adversary(tmp_path_factory):
    trained = train_optimal_attack("ppo-hopper", 0.075, 64, seed=0, **TINY)
    path = trained.save(tmp_path_factory.mktemp("adv") / "optimal-ppo-hopper.safetensors")
    return trained, path


def test_the_registered_env_passes_the_checker():
    check_env(gym.make("advrl/ObservationAdversary-v0").unwrapped)
    check_env(ObservationAdversaryEnv("ppo-hopper", eps=0.075))


def test_the_victim_acts_on_the_perturbed_observation_and_the_reward_is_negated():
    env = ObservationAdversaryEnv("ppo-hopper", eps=0.075, victim_deterministic=True)
    twin = gym.make("Hopper-v5")
    obs, _ = env.reset(seed=3)
    raw, _ = twin.reset(seed=3)
    policy = advrl.zoo.load("ppo-hopper").torch_policy()
    clean = policy.normalize(th.as_tensor(raw, dtype=th.float32)[None])
    np.testing.assert_allclose(obs, clean[0].numpy(), rtol=1e-6)
    action = np.ones(env.action_space.shape, np.float32)  # a vertex of the ball
    _, reward, *_, info = env.step(action)
    victim_action = policy.action(clean + 0.075).detach()[0].numpy()
    assert not np.allclose(victim_action, policy.action(clean).detach()[0].numpy(), atol=1e-3)
    _, twin_reward, *_ = twin.step(np.clip(victim_action, -1, 1))
    assert reward == pytest.approx(-twin_reward, rel=1e-5)
    assert info["reward_victim"] == pytest.approx(twin_reward, rel=1e-5)
    assert info["attack_norm"] == pytest.approx(0.075, rel=1e-5)


def test_an_env_copy_still_attacks():
    # (Gymnasium's MuJoCo envs rebuild their physics on unpickling: both are reset.)
    env = ObservationAdversaryEnv("ppo-hopper", eps=0.075)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    copy = pickle.loads(pickle.dumps(env))
    env.reset(seed=5), copy.reset(seed=5)
    action = -np.ones(env.action_space.shape, np.float32)
    for _ in range(3):
        a, b = env.step(action), copy.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1] == b[1]
    assert b[4]["attack_norm"] == pytest.approx(0.075, rel=1e-5)


def test_l2_actions_are_projected_onto_the_ball():
    delta = perturbation_from_action(np.ones(4), 0.5, "l2")
    assert np.linalg.norm(delta) == pytest.approx(0.5)
    np.testing.assert_allclose(perturbation_from_action(np.full(3, 7.0), 0.2, "linf"), 0.2)


@settings(max_examples=25, deadline=None)
@given(
    eps=st.floats(1e-3, 5.0),
    batch=st.integers(1, 6),
    norm=st.sampled_from(["linf", "l2"]),
    scale=st.floats(0.1, 100.0),
    deterministic=st.booleans(),
)
def test_the_attack_stays_inside_the_ball(hopper_adversary, eps, batch, norm, scale, deterministic):
    trained, _ = hopper_adversary
    attack = OptimalAttack(eps, norm, adversary=trained.policy, deterministic=deterministic)
    obs = scale * th.randn(batch, 11, generator=th.Generator().manual_seed(batch))
    adv = attack(obs, LinearPolicy(th.ones(3, 11)), th.Generator().manual_seed(0))
    size = (adv - obs).abs().amax(1) if norm == "linf" else (adv - obs).norm(dim=1)
    rounding = (
        4 * th.finfo(th.float32).eps * obs.abs().amax(1) * (obs.shape[1] if norm == "l2" else 1)
    )
    assert bool((size <= eps * (1 + 1e-5) + rounding).all())  # float32 obs + delta rounds
    assert bool((size > 0).all())  # and it perturbs


def test_save_load_round_trip_gives_the_same_attack(hopper_adversary):
    trained, path = hopper_adversary
    loaded = load_optimal_attack(path, victim="ppo-hopper", eps=0.075, norm="linf")
    obs = th.randn(5, 11, generator=th.Generator().manual_seed(1))
    policy = LinearPolicy(th.ones(3, 11))
    assert th.equal(trained.attack()(obs, policy), loaded.attack()(obs, policy))
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["victim"] == "ppo-hopper" and card["eps"] == 0.075 and card["steps"] == 64
    assert card["victim_digest"] == victim_digest("ppo-hopper")
    via_registry = load_learned_attack("optimal", victim="ppo-hopper", eps=0.075, path=path)
    assert th.equal(via_registry(obs, policy), loaded.attack()(obs, policy))


def test_an_adversary_is_refused_for_another_victim_or_budget(hopper_adversary, tmp_path):
    _, path = hopper_adversary
    with pytest.raises(
        ValueError, match=r"trained for victim 'ppo-hopper'.*not for 'ppo-walker2d'"
    ):
        load_optimal_attack(path, victim="ppo-walker2d")
    with pytest.raises(ValueError, match=r"eps=0.075, not eps=0.1"):
        load_optimal_attack(path, eps=0.1)
    with pytest.raises(ValueError, match=r"norm 'linf', not 'l2'"):
        load_optimal_attack(path, norm="l2")
    # Same name, different weights: the digest tells them apart.
    impostor = tmp_path / "ppo-hopper.safetensors"
    impostor.write_bytes(advrl.zoo.ZOO_DIR.joinpath("ppo-walker2d.safetensors").read_bytes())
    with pytest.raises(ValueError, match=r"digest"):
        load_optimal_attack(path, victim=str(impostor))


def test_a_victim_checkpoint_is_not_an_adversary():
    with pytest.raises(CheckpointError, match="Hopper-v5"):
        load_optimal_attack(advrl.zoo.ZOO_DIR / "ppo-hopper.safetensors")


def test_bad_budgets_and_victims_are_refused_before_training():
    with pytest.raises(ValueError, match=r"eps must be a finite number > 0, got -0.1"):
        ObservationAdversaryEnv("ppo-hopper", eps=-0.1)
    with pytest.raises(ValueError, match=r"unknown victim 'ppo-nope'"):
        train_optimal_attack("ppo-nope", 0.1, 64)
    with pytest.raises(ValueError, match=r"unknown learned attack 'optimum'"):
        load_learned_attack("optimum", victim="ppo-hopper", eps=0.1)
    with pytest.raises(ValueError, match=r"no shipped 'optimal' adversary for victim 'ppo-ant'"):
        load_learned_attack("optimal", victim="ppo-ant", eps=0.15)
    with pytest.raises(TypeError, match="actor-critic policy"):
        OptimalAttack(0.1, adversary="optimal-ppo-hopper")


def test_evaluation_through_the_wrappers_applies_it(hopper_adversary):
    trained, _ = hopper_adversary
    victim = advrl.zoo.load("ppo-hopper")
    result = evaluate_under_attack(victim, None, trained.attack(), n_episodes=2, n_envs=2)
    assert 0 < result.mean_attack_norm <= result.max_attack_norm <= 0.075 * (1 + 1e-5)


def test_the_training_command_writes_file_and_card(tmp_path):
    train_main(["--kind", "optimal", "--victim", "ppo-cartpole", "--steps", "64", "--out",
                str(tmp_path)])  # fmt: skip
    card = json.loads((tmp_path / "optimal-ppo-cartpole.json").read_text())
    assert card["eps"] == 0.5  # CartPole's standard eps
    assert card["command"].startswith("python -m advrl.attacks.learned.train --kind optimal")
    load_optimal_attack(tmp_path / "optimal-ppo-cartpole.safetensors", victim="ppo-cartpole")


@pytest.mark.parametrize("deterministic", [True, False])
def test_the_batched_twin_follows_the_single_env_trajectories(deterministic):
    from advrl.attacks.learned import VecObservationAdversary

    kwargs = dict(victim="ppo-hopper", eps=1.0, victim_deterministic=deterministic)
    venv = VecObservationAdversary([lambda: ObservationAdversaryEnv(**kwargs)] * 2)
    venv.seed(11)
    singles = [ObservationAdversaryEnv(**kwargs) for _ in range(2)]
    obs = venv.reset()
    for i, env in enumerate(singles):
        np.testing.assert_allclose(obs[i], env.reset(seed=11 + i)[0], rtol=1e-6)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(150):  # long enough for episode ends (Hopper falls at eps 1)
        actions = rng.uniform(-1, 1, (2, 11)).astype(np.float32)
        obs, rewards, dones, infos = venv.step(actions)
        for i, env in enumerate(singles):
            o, r, terminated, truncated, info = env.step(actions[i])
            assert r == pytest.approx(rewards[i], rel=1e-4, abs=1e-4)
            assert dones[i] == (terminated or truncated)
            assert infos[i]["attack_norm"] == pytest.approx(info["attack_norm"], rel=1e-4)
            if dones[i]:
                ended += 1
                np.testing.assert_allclose(infos[i]["terminal_observation"], o, atol=1e-4)
                o, _ = env.reset()
            # Batched matmuls round differently from one-row ones (1e-6): allow for it.
            np.testing.assert_allclose(obs[i], o, rtol=1e-4, atol=1e-4)
    assert ended > 0


def test_a_victim_name_keeps_its_dots():
    from advrl.attacks.learned.artifacts import shipped_path
    from advrl.attacks.learned.victims import victim_name

    assert victim_name("ppo-halfcheetah-smooth-sigma0.1") == "ppo-halfcheetah-smooth-sigma0.1"
    assert victim_name("runs/v/sappo-hopper.safetensors") == "sappo-hopper"
    assert shipped_path("rs", "ppo-halfcheetah-smooth-sigma0.1").name == (
        "rs-ppo-halfcheetah-smooth-sigma0.1.safetensors"
    )


def test_the_training_command_applies_its_kwargs(tmp_path):
    settings = '{"victim_deterministic": true, "n_steps": 64}'
    train_main(["--kind", "optimal", "--victim", "ppo-cartpole", "--steps", "64", "--out",
                str(tmp_path), "--kwargs", settings])  # fmt: skip
    card = json.loads((tmp_path / "optimal-ppo-cartpole.json").read_text())
    assert card["env_kwargs"]["victim_deterministic"] is True
    assert card["hyperparameters"]["n_steps"] == 64
