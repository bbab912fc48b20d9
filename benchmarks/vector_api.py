"""PGD-10 through the Gymnasium vector wrapper vs the SB3 VecEnv one, in the same run.

    python benchmarks/vector_api.py [--envs 16] [--steps 100] [--repeats 21]

Both stacks attack the shipped ``ppo-halfcheetah`` victim with PGD-10 (eps 0.15 in its
normalised space) in one batched call per step, and the victim acts on what it sees:

  gymnasium  advrl.attacks.vector.PerturbObservation(gym.vector.SyncVectorEnv(envs))
  sb3        advrl.attacks.VecPerturbObservation(DummyVecEnv(envs))

After a short warm-up of each, repeats alternate the two so machine noise hits both alike;
reports the median env-steps/s of each, by the wall clock and by the process's CPU time
(steadier on a shared machine), and the median over repeats of the ratio gymnasium / sb3 of
each adjacent pair (the goal: within 10%).
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

import advrl.zoo
from advrl.attacks import PGD, VecPerturbObservation
from advrl.attacks.vector import PerturbObservation


def act(policy, raw_obs: np.ndarray) -> np.ndarray:
    """The victim's deterministic actions on (attacked) raw observations."""
    with th.no_grad():
        obs = th.as_tensor(raw_obs, dtype=th.float32)
        return policy.action(policy.normalize(obs)).clamp(-1, 1).numpy()


def rates(steps: int, n_envs: int, wall: float, cpu: float) -> tuple[float, float]:
    """Env-steps/s by the wall clock and by this process's CPU time (which other processes
    on a shared machine barely disturb: everything here runs in one thread)."""
    return steps * n_envs / wall, steps * n_envs / cpu


def gymnasium_sps(victim, policy, attack, n_envs: int, steps: int) -> tuple[float, float]:
    envs = PerturbObservation(gym.vector.SyncVectorEnv(victim.env_fns(n_envs)), attack, policy)
    obs, _ = envs.reset(seed=0)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        obs, *_ = envs.step(act(policy, obs))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    envs.close()
    return rates(steps, n_envs, wall, cpu)


def sb3_sps(victim, policy, attack, n_envs: int, steps: int) -> tuple[float, float]:
    venv = VecPerturbObservation(DummyVecEnv(victim.env_fns(n_envs)), attack, policy)
    venv.seed(0)
    obs = venv.reset()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        obs, *_ = venv.step(act(policy, obs))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    venv.close()
    return rates(steps, n_envs, wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=16, help="envs per vector env")
    parser.add_argument("--steps", type=int, default=100, help="vector steps per measurement")
    parser.add_argument("--repeats", type=int, default=21, help="alternating measurements")
    parser.add_argument("--policy", default="ppo-halfcheetah", help="zoo victim")
    parser.add_argument("--eps", type=float, default=0.15, help="l_inf budget (normalised)")
    args = parser.parse_args()
    th.set_num_threads(1)
    victim = advrl.zoo.load(args.policy)
    policy, attack = victim.torch_policy(), PGD(args.eps, steps=10)
    runs = {"gymnasium": gymnasium_sps, "sb3": sb3_sps}
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    for run in runs.values():  # warm-up (torch kernels, MuJoCo), not reported
        run(victim, policy, attack, args.envs, 10)
    for _ in range(args.repeats):
        for name, run in runs.items():
            samples[name].append(run(victim, policy, attack, args.envs, args.steps))
    print(f"{victim.env_id} ({args.policy}), PGD-10 eps={args.eps}, {args.envs} envs, "
          f"{args.steps} steps x {args.repeats} repeats, torch threads=1, medians")  # fmt: skip
    print("| wrapper | env-steps/s (wall) | env-steps/s (CPU time) | wall, each repeat |")
    print("|---|---:|---:|---|")
    for name in runs:
        wall, cpu = zip(*samples[name], strict=True)
        shown = ", ".join(f"{s:,.0f}" for s in wall)
        print(f"| {name} | {statistics.median(wall):,.0f} | {statistics.median(cpu):,.0f} "
              f"| {shown} |")  # fmt: skip
    for k, clock in enumerate(("wall", "CPU time")):
        paired = [g[k] / b[k] for g, b in zip(samples["gymnasium"], samples["sb3"], strict=True)]
        print(f"ratio gymnasium / sb3 ({clock}): median {statistics.median(paired):.3f} over "
              f"the paired repeats (range {min(paired):.2f}-{max(paired):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
