"""Bad input to the attack API gets an error naming the argument and what is allowed."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO

from advrl.attacks import ATTACKS, PGD, GaussianNoise, evaluate_under_attack, make_attack
from advrl.policies import from_sb3
from advrl.testing import LinearPolicy
from advrl.zoo.checkpoint import ObsStats

POLICY = LinearPolicy(th.ones(1, 3), value_weight=th.ones(3))
OBS = th.zeros(2, 3)


def gen() -> th.Generator:
    return th.Generator().manual_seed(0)


# --- budgets and settings, at construction --------------------------------------------------


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_eps_as_a_string_is_a_type_error_for_every_attack(name):
    with pytest.raises(TypeError, match=r"eps must be a finite number >= 0, got '0.1' \(str\)"):
        make_attack(name, "0.1")


def test_numpy_scalars_are_real_numbers():
    assert make_attack("pgd", np.float32(0.25)).eps == 0.25
    assert make_attack("pgd", 0.1, steps=np.int64(3)).steps == 3


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_eps_near_the_float64_limit_is_refused_at_construction(name):
    # PGD's default step 2.5 * eps / steps used to overflow to inf here.
    with pytest.raises(ValueError, match=r"eps=1e\+308 is too large.*allowed: eps <= 1.12e\+307"):
        make_attack(name, 1e308)
    assert make_attack(name, 1e300).lengths()["eps"] == 1e300


def test_an_explicit_step_size_or_std_that_would_overflow_is_refused():
    with pytest.raises(ValueError, match=r"step_size=1e\+308 is too large"):
        PGD(0.1, step_size=1e308)
    with pytest.raises(ValueError, match=r"std=1e\+308 is too large"):
        GaussianNoise(0.1, std=1e308)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"norm": 2}, ValueError, r"unknown norm 2; allowed: \['linf', 'l2'\]"),
        ({"steps": "3"}, TypeError, r"steps must be an integer >= 1, got '3' \(str\)"),
        ({"steps": 2.0}, TypeError, r"steps must be an integer >= 1, got 2.0 \(float\)"),
        ({"steps": True}, TypeError, r"steps must be an integer >= 1, got True \(bool\)"),
        ({"steps": 0}, ValueError, r"steps must be an integer >= 1, got 0"),
        ({"step_size": "1"}, TypeError, r"step_size must be a finite number > 0, got '1'"),
        ({"step_size": float("nan")}, ValueError, r"step_size must be a finite number > 0"),
        ({"random_start": "no"}, TypeError, r"random_start must be True or False, got 'no'"),
    ],
)
def test_bad_pgd_settings(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_attack("pgd", 0.1, **kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "error", "message"),
    [
        ("fgsm", {"probe": "x"}, TypeError, r"probe must be a number in \(0, 1\], got 'x'"),
        ("fgsm", {"probe": 2.0}, ValueError, r"probe must be a number in \(0, 1\], got 2.0"),
        ("mad", {"noise": "x"}, TypeError, r"noise must be a finite number >= 0, got 'x'"),
        ("gaussian", {"std": "x"}, TypeError, r"std must be a finite number > 0, got 'x'"),
    ],
)
def test_bad_attack_specific_settings(name, kwargs, error, message):
    with pytest.raises(error, match=message):
        make_attack(name, 0.1, **kwargs)


def test_an_unknown_keyword_names_the_ones_the_attack_takes():
    with pytest.raises(TypeError, match=r"'fgsm' takes no argument 'steps'; allowed: \['probe'\]"):
        make_attack("fgsm", 0.1, steps=3)


def test_a_non_string_attack_name_lists_the_names():
    with pytest.raises(TypeError, match=r"name must be an attack name.*allowed: \['critic'"):
        make_attack(PGD, 0.1)


# --- the call contract ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_int_generator_is_a_type_error_suggesting_a_seeded_generator(name):
    attack = make_attack(name, 0.1)
    with pytest.raises(
        TypeError, match=r"generator must be a torch.Generator or None, got 0 \(int"
    ):
        attack(OBS, POLICY, 0)
    with pytest.raises(TypeError, match=r"th.Generator\(\).manual_seed\(7\)"):
        attack(OBS, POLICY, 7)


def test_a_numpy_generator_is_a_type_error():
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        make_attack("uniform", 0.1)(OBS, POLICY, np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_policy_none_is_a_type_error_naming_torch_policy(name):
    with pytest.raises(
        TypeError, match=r"policy must be a TorchPolicy \(e.g. .*from_sb3.*got None"
    ):
        make_attack(name, 0.1)(OBS, None, gen())


def test_an_sb3_model_or_zoo_policy_as_the_policy_says_how_to_adapt_it(cartpole_victim):
    attack, obs = make_attack("pgd", 0.1), th.zeros(1, 4)
    with pytest.raises(TypeError, match=r"got a PPO model; adapt it with .*from_sb3\(model\)"):
        attack(obs, cartpole_victim.model, gen())
    with pytest.raises(TypeError, match=r"got a ZooPolicy; use its \.torch_policy\(\)"):
        attack(obs, cartpole_victim, gen())


def test_a_numpy_batch_is_a_type_error():
    with pytest.raises(TypeError, match="obs must be a torch.Tensor, got ndarray"):
        make_attack("pgd", 0.1)(np.zeros((2, 3)), POLICY, gen())


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_an_eps_that_overflows_the_observation_dtype_is_refused(name, norm):
    # 1e20 is fine in float64 but its squares overflow float32 (l2 norms came out inf and
    # the "attack" silently returned the clean batch) and 1e39 is not a float32 at all.
    attack = make_attack(name, 1e39 if norm == "linf" else 1e20, norm)
    policy = (
        LinearPolicy(th.eye(3), discrete=True, value_weight=th.ones(3))
        if name == "targeted"
        else POLICY
    )
    with pytest.raises(ValueError, match=r"eps=1e\+(39|20) is too large for torch.float32"):
        attack(OBS, policy, gen())
    assert th.isfinite(attack(OBS.double(), policy, gen())).all()  # float64 holds it


def test_a_large_but_representable_eps_still_attacks():
    adv = make_attack("pgd", 1e6, "l2")(OBS, POLICY, gen())
    assert th.isfinite(adv).all() and adv.norm(dim=1).min() > 0.9e6


# --- evaluate_under_attack -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_envs": 0}, ValueError, r"n_envs must be an integer >= 1, got 0"),
        ({"n_envs": "2"}, TypeError, r"n_envs must be an integer >= 1, got '2' \(str\)"),
        ({"seed": "0"}, TypeError, r"seed must be an integer >= 0, got '0' \(str\)"),
        ({"seed": 1.5}, TypeError, r"seed must be an integer >= 0, got 1.5 \(float\)"),
        ({"seed": -1}, ValueError, r"seed must be an integer >= 0, got -1"),
        ({"n_episodes": "3"}, TypeError, r"n_episodes must be an integer >= 1, got '3'"),
        ({"space": "foo"}, ValueError, r"unknown attack space 'foo'"),
        ({"env_kwargs": [1]}, TypeError, r"env_kwargs must be a dict or None, got \[1\]"),
        ({"policy": "victim"}, TypeError, r"policy must be a TorchPolicy.*got str"),
    ],
)
def test_bad_evaluation_settings(cartpole_victim, kwargs, error, message):
    with pytest.raises(error, match=message):
        evaluate_under_attack(cartpole_victim, None, make_attack("fgsm", 0.1), **kwargs)


def test_an_attack_passed_by_name_suggests_make_attack(cartpole_victim):
    with pytest.raises(
        TypeError, match=r"got the string 'fgsm'; build one with make_attack\('fgsm', eps=...\)"
    ):
        evaluate_under_attack(cartpole_victim, None, "fgsm", n_episodes=1)
    with pytest.raises(
        TypeError, match=r"attack must be an ObservationAttack or None .*got 0.1 \(float\)"
    ):
        evaluate_under_attack(cartpole_victim, None, 0.1, n_episodes=1)


def test_a_bad_model_is_a_type_error(cartpole_victim):
    with pytest.raises(TypeError, match=r"got the string 'ppo-cartpole'; load it with .*load"):
        evaluate_under_attack("ppo-cartpole", None, None, n_episodes=1)
    with pytest.raises(TypeError, match=r"model must be a stable-baselines3 model or a ZooPolicy"):
        evaluate_under_attack(None, "CartPole-v1", None, n_episodes=1)


# --- from_sb3 ------------------------------------------------------------------------------


def test_from_sb3_with_a_zoo_policy_or_a_model_class_says_what_to_pass(cartpole_victim):
    with pytest.raises(TypeError, match=r"got a ZooPolicy; use its \.torch_policy\(\)"):
        from_sb3(cartpole_victim)
    with pytest.raises(TypeError, match=r"got the class PPO; pass a model instance"):
        from_sb3(PPO)
    with pytest.raises(TypeError, match=r"expects a stable-baselines3 model.*got NoneType"):
        from_sb3(None)


def test_from_sb3_with_a_bad_venv_or_obs_stats(cartpole_victim):
    model = cartpole_victim.model
    with pytest.raises(TypeError, match=r"venv must be an SB3 VecEnv or None, got 'x'"):
        from_sb3(model, venv="x")
    with pytest.raises(TypeError, match=r"obs_stats must be an ObsStats or None, got 'x'"):
        from_sb3(model, obs_stats="x")
    stats = ObsStats(mean=np.zeros(3), var=np.ones(3))
    with pytest.raises(
        ValueError, match=r"obs_stats.mean has shape \(3,\); the model observes \(4,\)"
    ):
        from_sb3(model, obs_stats=stats)
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match="venv must be an SB3 VecEnv"):
        from_sb3(model, venv=env)
