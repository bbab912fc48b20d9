"""Every advrl spec serialises to JSON, and ``gym.make(EnvSpec.from_json(...))`` rebuilds it.

Specs record configuration (names and numbers: an attack's name and budget, a reward
function's import path), never live objects, so a spec can be written to a results store or
a config file and rebuilt elsewhere.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import data_equivalence

from advrl.envs.dynamics import PerturbDynamics
from advrl.envs.hacking import hopper_velocity_proxy
from advrl.envs.proxy import ProxyReward
from advrl.registration import GYM_ENVS
from tests.conftest import with_nle_marks


def same_run(env: gym.Env, rebuilt: gym.Env, steps: int = 20) -> None:
    for e in (env, rebuilt):
        e.action_space.seed(3)
    a, b = env.reset(seed=3), rebuilt.reset(seed=3)
    assert data_equivalence(a, b)
    for t in range(steps):
        action = env.action_space.sample()
        assert data_equivalence(action, rebuilt.action_space.sample())
        a, b = env.step(action), rebuilt.step(action)
        assert data_equivalence(a, b), f"the rebuilt env diverges at step {t}"
        if a[2] or a[3]:
            break


def assert_round_trip(env: gym.Env) -> gym.Env:
    text = env.spec.to_json()
    assert EnvSpec.from_json(text).id == env.unwrapped.spec.id
    rebuilt = gym.make(EnvSpec.from_json(text))
    assert rebuilt.spec.to_json() == text
    # (gym.make may add one more TimeLimit of the same length on top: an inner gym.make's
    # TimeLimit reports its length in the spec; the episodes are the same.)
    assert type(rebuilt.unwrapped) is type(env.unwrapped)
    same_run(env, rebuilt)
    return rebuilt


@pytest.mark.parametrize("entry", with_nle_marks(GYM_ENVS), ids=lambda e: e.id)
def test_every_registered_spec_round_trips_through_json(entry):
    assert_round_trip(gym.make(entry.id))


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        (
            "advrl/PerturbedObservation-v0",
            {"attack": "pgd", "eps": 0.1, "victim": "ppo-cartpole", "seed": 2},
        ),
        ("advrl/PerturbedObservation-v0", {"attack": "gaussian", "eps": 0.2, "norm": "l2"}),
        ("advrl/HopperLunge-v0", {"reward": "true"}),
        ("advrl/HalfCheetahUpright-v0", {"reset_noise_scale": 0.2}),
        ("advrl/HopperForce-v0", {"adversary": "none", "strength": 0.5}),
    ],
)
def test_configured_specs_round_trip_through_json(env_id, kwargs):
    rebuilt = assert_round_trip(gym.make(env_id, **kwargs))
    assert {k: rebuilt.spec.kwargs[k] for k in kwargs} == kwargs


def test_the_attack_is_recorded_by_name_and_budget():
    env = gym.make("advrl/PerturbedObservation-v0", attack="fgsm", eps=0.3, victim="ppo-cartpole")
    (attack,) = [w for w in env.spec.additional_wrappers if "Perturb" in w.name]
    assert attack.kwargs == {
        "attack": "fgsm", "eps": 0.3, "norm": "linf", "victim": "ppo-cartpole",
        "space": "normalized", "seed": None, "attack_kwargs": None,
    }  # fmt: skip


def test_user_stacks_round_trip_through_json():
    env = PerturbDynamics(gym.make("Hopper-v5"), mass_scale=2.0, bodies=["torso"])
    env = ProxyReward(env, hopper_velocity_proxy)
    assert env.spec.additional_wrappers[-1].kwargs["proxy"] == (
        "advrl.envs.hacking:hopper_velocity_proxy"
    )
    rebuilt = assert_round_trip(env)
    assert rebuilt.proxy is hopper_velocity_proxy
    rebuilt.reset(seed=0)
    assert rebuilt.unwrapped.model.body_mass[1] == pytest.approx(2 * env.env.base_mass[1])


def test_reward_functions_by_path():
    env = ProxyReward(gym.make("Hopper-v5"), "advrl.envs.hacking:hopper_velocity_proxy")
    env.reset(seed=0)
    _, reward, *_, info = env.step(np.zeros(3, np.float32))
    assert reward == info["x_velocity"]
    with pytest.raises(ValueError, match="'module:function' path, got 'hopper'"):
        ProxyReward(gym.make("Hopper-v5"), "hopper")
    with pytest.raises(TypeError, match="true must be callable"):
        ProxyReward(gym.make("Hopper-v5"), None, true=3)


def test_a_lambda_is_recorded_as_is():
    # Not importable, so not JSON-able, but the spec still rebuilds the env in-process.
    def proxy(obs, action, next_obs, info):
        return 1.0

    env = ProxyReward(gym.make("CartPole-v1"), proxy)
    assert env.spec.additional_wrappers[-1].kwargs["proxy"] is proxy
    assert gym.make(env.spec).proxy is proxy
