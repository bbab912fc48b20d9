"""Training throughput: RARL (PPO vs PPO adversary) vs plain SB3 PPO on the same task.

    python benchmarks/rarl_throughput.py [--env InvertedPendulum-v5] [--steps 40960] [--repeats 3]

Both train with the same PPO settings and 8 envs; RARL's env steps count both phases (each
phase steps the game once per env per step). Configurations alternate across repeats;
medians reported with the ratio RARL / PPO.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.rarl import RARL

KW = dict(n_steps=256, batch_size=256, n_epochs=10, policy_kwargs=dict(net_arch=[64, 64]))


def ppo_rate(env_id: str, steps: int) -> float:
    model = PPO("MlpPolicy", make_vec_env(env_id, 8, seed=0), seed=0, **KW)
    start = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - start)


def rarl_rate(env_id: str, steps: int) -> float:
    rarl = RARL(env_id, n_envs=8, algo_kwargs=KW, seed=0)
    iterations = max(1, steps // (rarl.protagonist_steps + rarl.adversary_steps))
    start = time.perf_counter()
    rarl.learn(iterations)
    total = rarl.protagonist.num_timesteps + rarl.adversary.num_timesteps
    return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="InvertedPendulum-v5")
    parser.add_argument("--steps", type=int, default=40960)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    th.set_num_threads(1)
    ppo, rarl = [], []
    for _ in range(args.repeats):
        ppo.append(ppo_rate(args.env, args.steps))
        rarl.append(rarl_rate(args.env, args.steps))
    p, r = statistics.median(ppo), statistics.median(rarl)
    print(f"{args.env}, {args.steps} env steps per run, median of {args.repeats}")
    print("| trainer | env steps/s | ratio |")
    print("|---|---:|---:|")
    print(f"| SB3 PPO | {p:,.0f} | 1.00 |")
    print(f"| RARL (PPO protagonist + PPO adversary) | {r:,.0f} | {r / p:.2f} |")


if __name__ == "__main__":
    main()
