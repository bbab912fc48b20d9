"""PA-AD: the actor against hand computations, the director's env, training and artefacts."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys

import gymnasium as gym
import hypothesis.strategies as st
import numpy as np
import pytest
import torch as th
import torch.nn.functional as F
from gymnasium.utils.env_checker import check_env, data_equivalence
from hypothesis import given, settings
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import SubprocVecEnv

from advrl.attacks import evaluate_under_attack
from advrl.attacks.learned import (
    VecObservationAdversary,
    load_learned_attack,
    load_victim,
    train_adversary,
)
from advrl.attacks.learned.paad import (
    ENV_ID,
    DirectionActor,
    DirectionAdversaryEnv,
    PAADAttack,
    load_attack,
    load_paad,
    train_paad,
)
from advrl.testing import LinearPolicy, check_attack

HOPPER = dict(victim="ppo-hopper", eps=0.075)
TINY = dict(n_envs=2, n_steps=64, batch_size=64, policy_kwargs=dict(net_arch=[8]))


def random_director(obs_dim: int, k: int, seed: int) -> ActorCriticPolicy:
    th.manual_seed(seed)  # SB3 initialises from the global generator
    return ActorCriticPolicy(
        gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
        gym.spaces.Box(-1.0, 1.0, (k,), np.float32),
        lambda _: 0.0,
        net_arch=[8],
        log_std_init=float(np.log(2.0)),  # wide: sampled directions often leave the box
    )


@pytest.fixture(scope="module")
def hopper_obs() -> th.Tensor:
    """64 normalised Hopper observations along one episode of the victim."""
    env = DirectionAdversaryEnv(**HOPPER)
    obs = [env.reset(seed=0)[0]]
    for _ in range(63):
        o, _, terminated, truncated, _ = env.step(np.zeros(3, np.float32))
        obs.append(env.reset()[0] if terminated or truncated else o)
    return th.as_tensor(np.array(obs))


@pytest.fixture(scope="module")
def director():
    """A tiny director trained for a few hundred steps, with non-default actor settings."""
    th.set_num_threads(1)
    return train_paad(**HOPPER, steps=128, actor_steps=2, probe=0.05, **TINY)


@pytest.fixture(scope="module")
def saved(director, tmp_path_factory):
    return director.save(tmp_path_factory.mktemp("paad") / "paad-ppo-hopper.safetensors",
                         command="pytest")  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    discrete=st.booleans(),
    dim=st.integers(1, 6),
    batch=st.integers(1, 4),
    eps=st.floats(0.0, 3.0),
    norm=st.sampled_from(["linf", "l2"]),
    dtype=st.sampled_from([th.float32, th.float64]),
    steps=st.integers(1, 3),
    probe=st.sampled_from([0.0, 0.1, 1.0]),
    deterministic=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_paad_stays_in_its_ball(
    discrete, dim, batch, eps, norm, dtype, steps, probe, deterministic, seed
):
    gen = th.Generator().manual_seed(seed)
    k = 3 if discrete else 2
    policy = LinearPolicy(th.randn(k, dim, generator=gen), discrete=discrete)
    attack = PAADAttack(eps, norm, director=random_director(dim, k, seed), steps=steps,
                        probe=probe, deterministic=deterministic)  # fmt: skip
    obs = (10 * th.randn(batch, dim, generator=gen)).to(dtype)
    check_attack(attack, policy, obs, seed=seed)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_one_actor_step_from_the_clean_point_is_the_linear_optimum(norm):
    # For a(s) = W s the change along d is d . W delta, largest over the l_inf ball at
    # eps * sign(W^T d) and over the l_2 ball at eps * W^T d / |W^T d|; the cosine's gradient
    # at the clean point points along W^T d, so one step lands there, per sample.
    gen = th.Generator().manual_seed(0)
    W = th.randn(3, 5, generator=gen)
    obs, d = th.randn(4, 5, generator=gen), th.rand(4, 3, generator=gen) * 2 - 1
    adv = DirectionActor(0.1, norm, probe=0.0)(obs, LinearPolicy(W), d)
    wd = d @ W  # rows: W^T d per sample
    best = 0.1 * (wd.sign() if norm == "linf" else wd / wd.norm(dim=1, keepdim=True))
    assert th.allclose(adv - obs, best, atol=1e-6)


def test_the_actor_moves_a_linear_victim_along_the_direction():
    gen = th.Generator().manual_seed(0)
    policy = LinearPolicy(th.randn(3, 11, generator=gen))
    obs, d = th.randn(64, 11, generator=gen), th.rand(64, 3, generator=gen) * 2 - 1

    def cos(actor: DirectionActor) -> th.Tensor:
        adv = actor(obs, policy, d, th.Generator().manual_seed(1))
        return F.cosine_similarity(policy.action(adv) - policy.action(obs), d, dim=-1)

    # The reference's actor (one step, gradient probed within eps/10) follows d on average
    # (the reference's MuJoCo sign would give about -0.7); more steps follow it closely.
    assert cos(DirectionActor(0.075)).mean() > 0.6
    assert cos(DirectionActor(0.075, steps=10)).min() > 0.9


def test_the_actor_moves_the_hopper_victim_along_the_direction(hopper_obs):
    policy = DirectionAdversaryEnv(**HOPPER).policy
    d = th.rand(len(hopper_obs), 3, generator=th.Generator().manual_seed(0)) * 2 - 1
    adv = DirectionActor(0.075, steps=10)(hopper_obs, policy, d, th.Generator().manual_seed(1))
    with th.no_grad():
        change = policy.action(adv) - policy.action(hopper_obs)
    assert F.cosine_similarity(change, d, dim=-1).mean() > 0.9
    assert float((adv - hopper_obs).abs().max()) <= 0.075 + 1e-6


@pytest.mark.parametrize("kwargs", [{}, HOPPER], ids=["default", "ppo-hopper"])
def test_registered_env_passes_check_env_and_applies_the_actor(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)
    check_env(env, skip_render_check=True)
    if kwargs:
        assert env.action_space.shape == (3,)  # Hopper's action dims
        env.reset(seed=0)
        _, reward, *_, info = env.step(env.action_space.sample())
        assert reward == -info["reward_victim"]
        assert info["attack_norm"] == pytest.approx(0.075, abs=1e-6)  # sign steps hit eps


def trajectory(env: gym.Env, seed: int = 1, steps: int = 20) -> list:
    out = [env.reset(seed=seed)]
    env.action_space.seed(seed)
    for _ in range(steps):
        out.append(env.step(env.action_space.sample()))
    return out


def test_env_pickles_after_use_and_runs_as_the_original():
    env = gym.make(ENV_ID, **HOPPER, actor_steps=2)
    trajectory(env, seed=7, steps=3)
    twin = pickle.loads(pickle.dumps(env))
    assert twin.unwrapped.actor == env.unwrapped.actor
    for t, (a, b) in enumerate(zip(trajectory(env), trajectory(twin), strict=True)):
        assert data_equivalence(a, b), f"the copy diverges at step {t}"


def test_env_runs_in_a_subprocess_vec_env():
    venv = make_vec_env(ENV_ID, n_envs=2, env_kwargs=HOPPER, vec_env_cls=SubprocVecEnv,
                        vec_env_kwargs=dict(start_method="fork"))  # fmt: skip
    try:
        venv.reset()
        _, rewards, _, infos = venv.step(np.ones((2, 3), np.float32))
        assert rewards.shape == (2,)
        assert all(info["attack_norm"] <= 0.075 + 1e-6 for info in infos)
    finally:
        venv.close()


def test_the_batched_twin_follows_the_single_env_trajectories():
    # probe=0 makes the actor deterministic; a probe's noise comes from the first env's
    # generator for the whole batch, so only env 0 would follow its single twin.
    kwargs = dict(**HOPPER, probe=0.0, actor_steps=2)
    venv = VecObservationAdversary([lambda: DirectionAdversaryEnv(**kwargs)] * 2)
    venv.seed(11)
    singles = [DirectionAdversaryEnv(**kwargs) for _ in range(2)]
    obs = venv.reset()
    for i, env in enumerate(singles):
        np.testing.assert_allclose(obs[i], env.reset(seed=11 + i)[0], rtol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(60):
        actions = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
        obs, rewards, dones, infos = venv.step(actions)
        for i, env in enumerate(singles):
            o, r, terminated, truncated, info = env.step(actions[i])
            assert r == pytest.approx(rewards[i], rel=1e-5)
            assert infos[i]["attack_norm"] == pytest.approx(info["attack_norm"], rel=1e-5)
            assert info["attack_norm"] <= 0.075 + 1e-6
            if dones[i]:
                o, _ = env.reset()
            np.testing.assert_allclose(obs[i], o, rtol=1e-5, atol=1e-6)


def test_training_records_the_reference_settings_and_the_actor(director):
    card = director.card
    assert (card.kind, card.env_id, card.victim, card.eps) == ("paad", ENV_ID, "ppo-hopper", 0.075)
    assert card.env_kwargs["actor_steps"] == 2 and card.env_kwargs["probe"] == 0.05
    assert card.hyperparameters["clip_range"] == 0.4 and card.hyperparameters["anneal_lr"]
    # lr 3e-5 annealed linearly to 0 (the reference's anneal_lr)
    assert director.model.lr_schedule(0.5) == pytest.approx(1.5e-5)
    attack = director.attack()
    assert (attack.actor.steps, attack.actor.probe) == (2, 0.05)


def test_save_load_round_trip_gives_identical_outputs(director, saved, hopper_obs):
    policy = DirectionAdversaryEnv(**HOPPER).policy
    loaded = load_paad(saved, **HOPPER)
    assert loaded.card.env_kwargs == director.card.env_kwargs
    assert json.loads(saved.with_suffix(".json").read_text())["command"] == "pytest"
    for deterministic in (True, False):
        a, b = director.attack(deterministic), loaded.attack(deterministic)
        assert a.actor == b.actor
        out_a = a(hopper_obs, policy, th.Generator().manual_seed(3))
        out_b = b(hopper_obs, policy, th.Generator().manual_seed(3))
        assert th.equal(out_a, out_b)


def test_the_registry_loads_the_director(director, saved, hopper_obs):
    policy = DirectionAdversaryEnv(**HOPPER).policy
    attack = load_learned_attack("paad", **HOPPER, path=saved)
    assert isinstance(attack, PAADAttack)
    expected = director.attack()(hopper_obs, policy, th.Generator().manual_seed(0))
    assert th.equal(attack(hopper_obs, policy, th.Generator().manual_seed(0)), expected)


def test_the_attack_runs_through_evaluate_under_attack(director):
    # Batched over the envs by VecPerturbObservation, in the normalised space it trained in.
    victim = load_victim("ppo-hopper")
    result = evaluate_under_attack(victim, None, director.attack(), n_episodes=2, n_envs=2,
                                   env_kwargs={"max_episode_steps": 30})  # fmt: skip
    assert result.max_attack_norm <= 0.075 + 1e-6
    assert result.mean_attack_norm == pytest.approx(0.075, abs=1e-3)  # sign steps hit eps


def test_a_file_for_another_victim_or_eps_is_refused_naming_both(saved):
    with pytest.raises(ValueError, match=r"ppo-hopper.*ppo-walker2d"):
        load_attack(saved, victim="ppo-walker2d", eps=0.075)
    with pytest.raises(ValueError, match=r"eps=0\.075.*eps=0\.05"):
        load_learned_attack("paad", victim="ppo-hopper", eps=0.05, path=saved)
    with pytest.raises(ValueError, match="'paad' attack, not 'optimal'"):
        load_attack(saved, attack="optimal")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(actor_steps=0), ValueError, "steps must be an integer >= 1, got 0"),
        (dict(probe=1.5), ValueError, r"probe must be a number in \[0, 1\], got 1.5"),
        (dict(magnitude=-1.0), ValueError, "magnitude must be a finite number >= 0"),
        (dict(step_size="big"), TypeError, "step_size must be a finite number > 0"),
        (dict(eps=0.0), ValueError, "eps must be a finite number > 0"),
    ],
)
def test_bad_env_settings_are_refused_before_the_victim_loads(kwargs, error, match):
    with pytest.raises(error, match=match):
        DirectionAdversaryEnv(**{**HOPPER, "victim": "no-such-victim", **kwargs})


def test_bad_attack_inputs_are_refused():
    policy = LinearPolicy(th.randn(2, 4))
    with pytest.raises(TypeError, match="director must be an SB3 actor-critic policy"):
        PAADAttack(0.1, director=policy)
    with pytest.raises(ValueError, match=r"sees observations of 5 values, got shape \(4,\)"):
        PAADAttack(0.1, director=random_director(5, 2, 0))(th.zeros(1, 4), policy)
    with pytest.raises(ValueError, match=r"direction has shape \(1, 3\).*\(1, 2\)"):
        DirectionActor(0.1)(th.zeros(1, 4), policy, th.ones(1, 3))


def test_train_paad_through_the_registry_and_the_command_line(tmp_path):
    trained = train_adversary("paad", "ppo-cartpole", 0.5, 32, n_envs=1, n_steps=32,
                              batch_size=32, policy_kwargs=dict(net_arch=[8]))  # fmt: skip
    assert trained.card.kind == "paad" and trained.card.victim == "ppo-cartpole"
    command = [sys.executable, "-m", "advrl.attacks.learned.train", "--kind", "paad",
               "--victim", "ppo-hopper", "--steps", "1", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    path = tmp_path / "paad-ppo-hopper.safetensors"
    assert json.loads(done.stdout.strip().splitlines()[-1])["path"] == str(path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["kind"] == "paad" and math.isclose(card["eps"], 0.075)  # the standard eps
    assert card["command"].startswith("python -m advrl.attacks.learned.train --kind paad")
    load_learned_attack("paad", **HOPPER, path=path)
