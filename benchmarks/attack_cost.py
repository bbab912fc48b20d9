"""Attack cost: evaluation env-steps/s under FGSM, PGD-10 and MAD-10 vs clean evaluation.

    python benchmarks/attack_cost.py [--policy ppo-halfcheetah] [--steps 3000] [--repeats 3]

Runs the real evaluation stack (VecNormalize over VecPerturbObservation over DummyVecEnv,
SB3 ``predict``) for a fixed number of vector steps, with 1 and 16 envs, alternating
configurations across repeats so machine noise hits all of them alike. Reports the median
steps/s and its ratio to clean evaluation with the same number of envs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

import advrl.zoo
from advrl.attacks import VecPerturbObservation, make_attack
from advrl.zoo import frozen_vec_normalize

ATTACKS = {"clean": None, "fgsm": ("fgsm", {}), "pgd-10": ("pgd", {}), "mad-10": ("mad", {})}


def steps_per_second(victim, attack, n_envs: int, vec_steps: int, eps: float) -> float:
    venv = DummyVecEnv(victim.env_fns(n_envs))
    if attack is not None:
        name, kw = attack
        venv = VecPerturbObservation(
            venv, make_attack(name, eps, **kw), victim.torch_policy(), seed=0
        )
    venv = frozen_vec_normalize(venv, victim.obs_stats)
    venv.seed(0)
    obs = venv.reset()
    start = time.perf_counter()
    for _ in range(vec_steps):
        actions, _ = victim.model.predict(obs, deterministic=True)
        obs, _, _, _ = venv.step(actions)
    elapsed = time.perf_counter() - start
    venv.close()
    return vec_steps * n_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="ppo-halfcheetah")
    parser.add_argument("--eps", type=float, default=0.15)
    parser.add_argument("--steps", type=int, default=3000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    th.set_num_threads(1)
    victim = advrl.zoo.load(args.policy)
    print(f"{args.policy}, eps={args.eps}, torch threads=1, median of {args.repeats}")
    print("| n_envs | attack | env-steps/s | ratio to clean |")
    print("|---:|---|---:|---:|")
    for n_envs in (1, 16):
        samples: dict[str, list[float]] = {k: [] for k in ATTACKS}
        for _ in range(args.repeats):
            for label, attack in ATTACKS.items():
                samples[label].append(
                    steps_per_second(victim, attack, n_envs, args.steps // n_envs, args.eps)
                )
        clean = statistics.median(samples["clean"])
        for label in ATTACKS:
            sps = statistics.median(samples[label])
            print(f"| {n_envs} | {label} | {sps:,.0f} | {sps / clean:.2f} |")


if __name__ == "__main__":
    main()
