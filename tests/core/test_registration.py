"""Every registered advrl id passes Gymnasium's checker; the registries are wired up."""

import gymnasium as gym
import pettingzoo
import pytest
from gymnasium.utils.env_checker import check_env

from advrl.registration import GYM_ENVS, EnvEntry, all_entries, register_parallel
from tests.conftest import with_nle_marks


@pytest.mark.parametrize("entry", with_nle_marks(GYM_ENVS), ids=lambda e: e.id)
def test_check_env_on_every_registered_id(entry):
    env = gym.make(entry.id)
    check_env(env.unwrapped, skip_render_check=True)
    check_env(env, skip_render_check=True)


def test_all_ids_are_namespaced_and_described():
    for _, entry in all_entries():
        assert entry.id.startswith("advrl/")
        assert entry.description
        assert entry.id in gym.registry or entry.id in pettingzoo.parallel_registry
    for kind, entry in all_entries():
        if kind == "parallel":  # every parallel game is also registered turn-based (AEC)
            assert entry.id in pettingzoo.aec_registry


def test_perturbed_observation_env_with_a_zoo_victim():
    env = gym.make(
        "advrl/PerturbedObservation-v0",
        env_id="CartPole-v1",
        attack="pgd",
        eps=0.2,
        victim="ppo-cartpole",
    )
    check_env(env, skip_render_check=True)
    _, info = env.reset(seed=0)
    assert 0 < info["attack_norm"] <= 0.2 + 1e-5
    rebuilt = gym.make(env.spec)  # the spec records the attack stack
    assert rebuilt.unwrapped.spec.kwargs["attack"] == "pgd"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"env_id": "NoSuchEnv-v0"}, "unknown env id 'NoSuchEnv-v0'"),
        ({"attack": "pgd"}, "needs a victim"),
        ({"attack": "nope"}, "unknown attack 'nope'"),
        ({"eps": -1.0}, "eps must be a finite number >= 0, got -1.0"),
        ({"victim": "ppo-hopper"}, "trained on Hopper-v5, not CartPole-v1"),
    ],
)
def test_bad_kwargs_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make("advrl/PerturbedObservation-v0", **kwargs)


def test_unknown_advrl_id_is_an_error():
    with pytest.raises(gym.error.Error, match="Nope"):
        gym.make("advrl/Nope-v0")


class MatchingPennies(pettingzoo.ParallelEnv):
    """A minimal two-player ParallelEnv to exercise the registry."""

    metadata = {"name": "matching_pennies"}

    def __init__(self):
        self.possible_agents = ["protagonist", "adversary"]

    def observation_space(self, agent):
        return gym.spaces.Discrete(1)

    def action_space(self, agent):
        return gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        return {a: 0 for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        win = 1.0 if actions["protagonist"] == actions["adversary"] else -1.0
        rewards = {"protagonist": win, "adversary": -win}
        done = {a: True for a in self.agents}
        self.agents = []
        return {a: 0 for a in rewards}, rewards, done, done, {a: {} for a in rewards}


def test_parallel_registration_goes_to_pettingzoo():
    from pettingzoo.test import parallel_api_test

    entry = EnvEntry("advrl/TestPennies-v0", MatchingPennies, "test only")
    try:
        register_parallel((entry,))
        env = pettingzoo.make("parallel", "advrl/TestPennies-v0")
        parallel_api_test(env, num_cycles=5)
        aec = pettingzoo.make("aec", "advrl/TestPennies-v0")
        assert isinstance(aec, pettingzoo.AECEnv) and isinstance(aec.unwrapped, MatchingPennies)
    finally:
        pettingzoo.parallel_registry.pop("advrl/TestPennies-v0", None)
        pettingzoo.aec_registry.pop("advrl/TestPennies-v0", None)
