"""The core installs and runs without the optional extras; their absence is named clearly.

nle (``[nethack]``) is hidden from a subprocess by ``sys.modules["nle"] = None``, so these
tests check the no-nle behaviour in every venv, also one that has nle installed.
"""

import importlib.metadata
import subprocess
import sys
import textwrap

from packaging.requirements import Requirement

HIDE_NLE = "import sys; sys.modules['nle'] = None\n"


def _run_without_nle(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HIDE_NLE + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_core_requirements_are_ranges_and_nle_is_an_extra():
    requirements = [Requirement(r) for r in importlib.metadata.requires("advrl")]
    core = [r for r in requirements if r.marker is None]
    assert {r.name for r in core} >= {"gymnasium", "stable-baselines3", "mujoco", "torch"}
    assert "nle" not in {r.name for r in core}
    for r in core:
        assert not any(s.operator in ("==", "===") for s in r.specifier), f"{r} is a pin"
    gym_req = next(r for r in core if r.name == "gymnasium")
    assert "1.4.0" in gym_req.specifier and "2.0.0" not in gym_req.specifier
    nethack = [r for r in requirements if r.marker and r.marker.evaluate({"extra": "nethack"})]
    assert "nle" in {r.name for r in nethack}


def test_advrl_imports_and_lists_its_envs_without_nle():
    done = _run_without_nle("""
        import advrl, advrl.cli, advrl.envs, advrl.attacks, advrl.agents
        from advrl.envs.nethack import MessageReward  # needs no nle
        raise SystemExit(advrl.cli.main(["list"]))
    """)
    assert done.returncode == 0, done.stderr
    assert "advrl/NetHackScore-v0" in done.stdout  # listed: the id exists, nle is optional


def test_a_nethack_id_without_nle_names_the_extra():
    done = _run_without_nle("""
        import gymnasium as gym, advrl
        try:
            gym.make("advrl/NetHackScore-v0")
        except ModuleNotFoundError as error:
            print(f"{error.name}: {error}")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("nle: ")
    assert "pip install 'advrl[nethack]'" in done.stdout


def test_core_features_run_without_nle():
    done = _run_without_nle("""
        import gymnasium as gym, numpy as np, torch as th, advrl
        from advrl.attacks import PerturbObservation, UniformNoise
        from advrl.testing import LinearPolicy
        env = PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.05),
                                 LinearPolicy(th.ones(2, 4), discrete=True), seed=0)
        obs, info = env.reset(seed=0)
        print(float(np.abs(obs - info["obs_clean"]).max()))
    """)
    assert done.returncode == 0, done.stderr
    assert 0 < float(done.stdout) <= 0.05
