"""Wrapper overhead: env steps/s of advrl wrappers vs the raw env, measured in one run.

    python benchmarks/wrapper_overhead.py [--env HalfCheetah-v5] [--steps 20000] [--repeats 5]

Configurations (alternated across repeats; median reported):
  raw          gym.make(env)
  pass-through PerturbObservation with eps = 0 (the attack plumbing, no perturbation)
  uniform      PerturbObservation(UniformNoise(eps)) in the zoo victim's normalised space
Actions are pre-drawn so only env + wrapper time is measured.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch as th

import advrl.zoo
from advrl.attacks import PerturbObservation, UniformNoise


def make(kind: str, env_id: str, policy, eps: float) -> gym.Env:
    env = gym.make(env_id)
    if kind == "pass-through":
        return PerturbObservation(env, UniformNoise(0.0), policy, seed=0)
    if kind == "uniform":
        return PerturbObservation(env, UniformNoise(eps), policy, seed=0)
    return env


def steps_per_second(env: gym.Env, actions: np.ndarray) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--policy", default="ppo-halfcheetah")
    parser.add_argument("--eps", type=float, default=0.15)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    th.set_num_threads(1)
    policy = advrl.zoo.load(args.policy).torch_policy()
    probe = gym.make(args.env)
    probe.action_space.seed(0)
    actions = np.stack([probe.action_space.sample() for _ in range(args.steps)])
    kinds = ("raw", "pass-through", "uniform")
    envs = {k: make(k, args.env, policy, args.eps) for k in kinds}
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            samples[kind].append(steps_per_second(envs[kind], actions))
    raw = statistics.median(samples["raw"])
    print(f"{args.env}, {args.steps} steps x {args.repeats} repeats, median")
    print("| wrapper | steps/s | overhead vs raw |")
    print("|---|---:|---:|")
    for kind in kinds:
        sps = statistics.median(samples[kind])
        print(f"| {kind} | {sps:,.0f} | {100 * (raw / sps - 1):.1f}% |")


if __name__ == "__main__":
    main()
