"""Training throughput: ORPO vs plain SB3 PPO on the tomato gridworld, same settings.

    python benchmarks/orpo_throughput.py [--steps 40960] [--repeats 3]

ORPO's extra work per iteration: rolling out the reference policy for as many steps,
one discriminator epoch, the penalty and a second GAE pass. Env steps count the policy's
own steps only (the paper's accounting); medians over alternating repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import advrl.zoo
from advrl.agents.orpo import ORPO, EpsilonReference
from advrl.bench.hacking import PPO_TOMATO

ENV = "advrl/Tomato-v0"


def rate(method: str, steps: int) -> float:
    env = make_vec_env(ENV, 8, seed=0)
    if method == "ppo":
        model = PPO("MlpPolicy", env, seed=0, **PPO_TOMATO)
    else:
        ref = EpsilonReference(advrl.zoo.load("ppo-tomato-true").torch_policy(), 0.1, seed=0)
        model = ORPO("MlpPolicy", env, reference=ref, reference_env=make_vec_env(ENV, 8, seed=1),
                     divergence="sqrt_chi2", coef=0.2, seed=0, **PPO_TOMATO)  # fmt: skip
    start = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40960)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    th.set_num_threads(1)
    samples: dict[str, list[float]] = {"ppo": [], "orpo": []}
    for _ in range(args.repeats):
        for method in samples:
            samples[method].append(rate(method, args.steps))
    p, o = statistics.median(samples["ppo"]), statistics.median(samples["orpo"])
    print(f"{ENV}, {args.steps} env steps per run, median of {args.repeats}")
    print("| trainer | env steps/s | ratio |")
    print("|---|---:|---:|")
    print(f"| SB3 PPO | {p:,.0f} | 1.00 |")
    print(f"| ORPO (sqrt_chi2, discriminator 2x256) | {o:,.0f} | {o / p:.2f} |")


if __name__ == "__main__":
    main()
