"""The attack path: one env step through a wrapper, one batched PGD step on 16 envs (the SB3
VecEnv wrapper and the Gymnasium vector one), HalfCheetah-v5 with the shipped victim."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from advrl.attacks import PGD, PerturbObservation, UniformNoise, VecPerturbObservation, vector

ENV = "HalfCheetah-v5"
STEPS = 100  # single-env steps per timed call: one step (~30 us) is below the timer's noise
N_ENVS = 16


def _actions(space: gym.spaces.Box, n: int, batch: tuple[int, ...] = ()) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(space.low, space.high, (n, *batch, *space.shape)).astype(np.float32)


def _single_env(env: gym.Env):
    env.reset(seed=0)
    actions = _actions(env.action_space, STEPS)

    def run() -> None:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()

    return run


@pytest.mark.parametrize("kind", ["raw", "pass-through", "uniform"])
def test_single_env_step(benchmark, halfcheetah, kind):
    """100 steps of the raw env, of PerturbObservation with eps 0 and with uniform noise."""
    benchmark.group = f"single-env wrapper, {STEPS} {ENV} steps"
    env = gym.make(ENV)
    if kind != "raw":
        eps = 0.0 if kind == "pass-through" else 0.15
        env = PerturbObservation(env, UniformNoise(eps), halfcheetah.torch_policy(), seed=0)
    benchmark(_single_env(env))


def test_vec_pgd_step(benchmark, halfcheetah):
    """One step of VecPerturbObservation(PGD-10) over a DummyVecEnv of 16 envs."""
    benchmark.group = f"PGD-10 step, {N_ENVS} envs"
    policy = halfcheetah.torch_policy()
    venv = VecPerturbObservation(DummyVecEnv(halfcheetah.env_fns(N_ENVS)), PGD(0.15), policy)
    venv.seed(0)
    venv.reset()
    actions = iter(_actions(venv.action_space, 10**5, (N_ENVS,)))
    benchmark(lambda: venv.step(next(actions)))


def test_vector_pgd_step(benchmark, halfcheetah):
    """The same through Gymnasium's vector API: vector.PerturbObservation(SyncVectorEnv)."""
    benchmark.group = f"PGD-10 step, {N_ENVS} envs"
    policy = halfcheetah.torch_policy()
    envs = vector.PerturbObservation(gym.vector.SyncVectorEnv(halfcheetah.env_fns(N_ENVS)),
                                     PGD(0.15), policy)  # fmt: skip
    envs.reset(seed=0)
    actions = iter(_actions(envs.single_action_space, 10**5, (N_ENVS,)))
    benchmark(lambda: envs.step(next(actions)))


def test_pgd_attack_only(benchmark, halfcheetah):
    """The batched PGD-10 call alone on 16 observations (no env)."""
    benchmark.group = f"PGD-10 step, {N_ENVS} envs"
    policy, attack = halfcheetah.torch_policy(), PGD(0.15)
    obs = th.randn(N_ENVS, *policy.observation_space.shape, generator=th.Generator().manual_seed(0))
    gen = th.Generator().manual_seed(0)
    benchmark(lambda: attack(obs, policy, gen))
