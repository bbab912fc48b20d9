"""Training and evaluation throughput of the worst-case evaluation, each against a baseline
measured in the same run.

    python benchmarks/worst_case_throughput.py [--victim ppo-hopper] [--steps 16384] [--repeats 3]

Training (env steps per second, 8 envs, the zoo's PPO settings on both sides):
- plain SB3 PPO on the victim's task (the baseline);
- the optimal attack: PPO on ``advrl/ObservationAdversary-v0`` against the frozen victim;
- SA-PPO with 10 SGLD steps (eps at its full value from the start, the costliest phase);
- ATLA (victim + adversary steps both counted);
- Robust Sarsa and the PA-AD director, when their modules are installed.
Evaluation (env steps per second, 10 envs, deterministic): clean vs the optimal attack.
Configurations alternate across repeats; medians are reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from advrl.agents.atla import ATLA
from advrl.agents.sappo import SAPPO
from advrl.attacks import evaluate_under_attack
from advrl.attacks.learned import load_victim, train_adversary, train_optimal_attack
from advrl.bench.cells import STANDARD_EPS
from advrl.zoo.train import PPO_MUJOCO


def timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    steps = fn()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--victim", default="ppo-hopper")
    parser.add_argument("--steps", type=int, default=16384)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    th.set_num_threads(1)
    victim = load_victim(args.victim)
    env_id, eps, steps = victim.env_id, STANDARD_EPS[victim.env_id], args.steps
    ppo_kw = {k: v for k, v in PPO_MUJOCO.items()}

    def ppo() -> int:
        venv = VecNormalize(make_vec_env(env_id, 8, seed=0))
        return PPO("MlpPolicy", venv, seed=0, **ppo_kw).learn(steps).num_timesteps

    def optimal() -> int:
        return train_optimal_attack(args.victim, eps, steps).model.num_timesteps

    def sappo() -> int:
        venv = VecNormalize(make_vec_env(env_id, 8, seed=0))
        model = SAPPO("MlpPolicy", venv, seed=0, sa_eps=eps, sa_ramp=0.0, **ppo_kw)
        return model.learn(steps).num_timesteps

    def atla() -> int:
        run = ATLA(env_id, eps, n_envs=8, victim_kwargs=ppo_kw, adversary_kwargs=ppo_kw)
        run.learn(max(1, steps // (2 * 512 * 8)))
        return run.victim.num_timesteps + run.adversary.num_timesteps

    def learned(kind: str) -> Callable[[], int]:
        return lambda: (train_adversary(kind, args.victim, eps, steps), steps)[1]

    training = {"SB3 PPO (baseline)": ppo, "optimal attack (PPO adversary)": optimal,
                "SA-PPO, 10 SGLD steps": sappo, "ATLA-PPO (both sides)": atla}  # fmt: skip
    for kind, module in (("rs", "robust_sarsa"), ("paad", "paad")):
        if importlib.util.find_spec(f"advrl.attacks.learned.{module}") is not None:
            training[f"{kind} adversary"] = learned(kind)
    adversary = train_optimal_attack(args.victim, eps, 4096).attack()

    def evaluation(attack) -> Callable[[], int]:
        return lambda: evaluate_under_attack(victim, None, attack, args.episodes, n_envs=10).steps

    evaluating = {"clean evaluation (baseline)": evaluation(None),
                  "under the optimal attack": evaluation(adversary)}  # fmt: skip
    rates: dict[str, list[float]] = {name: [] for name in (*training, *evaluating)}
    for _ in range(args.repeats):
        for name, fn in {**training, **evaluating}.items():
            rates[name].append(timed(fn))
    med = {name: statistics.median(r) for name, r in rates.items()}
    print(f"{args.victim} ({env_id}, eps {eps}), {steps} training steps per run, "
          f"median of {args.repeats}")  # fmt: skip
    print("| what | env steps/s | ratio to its baseline |")
    print("|---|---:|---:|")
    for group, base in (
        (training, "SB3 PPO (baseline)"),
        (evaluating, "clean evaluation (baseline)"),
    ):
        for name in group:
            print(f"| {name} | {med[name]:,.0f} | {med[name] / med[base]:.2f} |")


if __name__ == "__main__":
    main()
