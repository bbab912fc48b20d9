import importlib.util

import gymnasium as gym
import pytest
import torch as th

import advrl  # noqa: F401  (registers the advrl/ ids)

NEEDS_NLE = "needs nle, the optional NetHack extra: pip install 'advrl[nethack]'"
HAS_NLE = importlib.util.find_spec("nle") is not None
requires_nle = pytest.mark.skipif(not HAS_NLE, reason=NEEDS_NLE)
NEEDS_RAY = "needs ray, the optional Ray backend extra: pip install 'advrl[ray]'"


def with_nle_marks(entries):
    """Registered env entries as parameters, the NetHack ones skipped without nle."""
    return [
        pytest.param(e, marks=requires_nle) if e.id.startswith("advrl/NetHack") else e
        for e in entries
    ]


th.set_num_threads(1)


@pytest.fixture(scope="session")
def cartpole_victim():
    import advrl.zoo

    return advrl.zoo.load("ppo-cartpole")


@pytest.fixture(scope="session")
def halfcheetah_victim():
    import advrl.zoo

    return advrl.zoo.load("ppo-halfcheetah")


def tiny(algo, env_id, **kwargs):
    """A tiny untrained SB3 model (net_arch [8]) for adapter and wrapper tests."""
    return algo("MlpPolicy", gym.make(env_id), policy_kwargs=dict(net_arch=[8]), seed=0, **kwargs)
