"""LearnedReward overhead: VecEnv steps/s with a learned reward served vs the raw VecEnv.

    python benchmarks/learned_reward_overhead.py [--env HalfCheetah-v5] [--n-envs 16]
        [--steps 2000] [--repeats 5]

Configurations, measured in the same run and alternated across repeats (median reported):
  raw        make_vec_env(env, n_envs) (SB3 DummyVecEnv)
  net        VecLearnedReward with one RewardNet, 2 x 64 MLP on (obs, action, next_obs)
  ensemble5  VecLearnedReward with a 5-member RewardEnsemble (UWO) of the same nets
One batched forward pass per VecEnv step, CPU, torch single-threaded. Actions are
pre-drawn so only env + wrapper time is measured. Goal: net overhead <= 25%. Both clocks are
reported: on a shared machine the wall clock mostly measures the other tenants, while this
process's CPU time measures the work the wrapper adds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.reward_models import RewardEnsemble, RewardNet
from advrl.envs.learned_reward import VecLearnedReward


def steps_per_second(venv, actions: np.ndarray) -> tuple[float, float]:
    """(env steps per CPU second of this process, env steps per wall second)."""
    venv.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    for action in actions:
        venv.step(action)
    steps = len(actions) * venv.num_envs
    return steps / (time.process_time() - cpu), steps / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2000, help="VecEnv steps per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    th.set_num_threads(1)
    th.manual_seed(0)
    raw = make_vec_env(args.env, args.n_envs, seed=0)
    spaces = (raw.observation_space, raw.action_space)
    nets = [RewardNet(*spaces, hidden=(64, 64)) for _ in range(5)]
    venvs = {
        "raw": raw,
        "net": VecLearnedReward(make_vec_env(args.env, args.n_envs, seed=0), nets[0]),
        "ensemble5": VecLearnedReward(make_vec_env(args.env, args.n_envs, seed=0),
                                      RewardEnsemble(nets, "uwo", lam=0.1)),  # fmt: skip
    }
    rng = np.random.default_rng(0)
    low, high = raw.action_space.low, raw.action_space.high
    actions = rng.uniform(low, high, (args.steps, args.n_envs, *low.shape)).astype(np.float32)
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in venvs}
    for _ in range(args.repeats):
        for kind, venv in venvs.items():
            samples[kind].append(steps_per_second(venv, actions))
    print(f"{args.env}, {args.n_envs} envs, {args.steps} VecEnv steps x {args.repeats} repeats, "
          "median env steps per CPU second (process time) and per wall second")  # fmt: skip
    print("| configuration | steps/CPU-s | overhead (CPU) | steps/wall-s | overhead (wall) |")
    print("|---|---:|---:|---:|---:|")
    base = [statistics.median(s[j] for s in samples["raw"]) for j in (0, 1)]
    for kind in venvs:
        sps = [statistics.median(s[j] for s in samples[kind]) for j in (0, 1)]
        print(f"| {kind} | {sps[0]:,.0f} | {100 * (base[0] / sps[0] - 1):.1f}% | "
              f"{sps[1]:,.0f} | {100 * (base[1] / sps[1] - 1):.1f}% |")


if __name__ == "__main__":
    main()
