"""Training throughput of off-policy AIL: SAC + discriminator with and without the gradient
penalty against plain SAC on the true reward, in one process, interleaved.

    OMP_NUM_THREADS=1 python benchmarks/ail_throughput.py --steps 500 --repeats 2

Each learner first fills ``learning_starts`` steps (untimed), then is timed for ``steps`` env
steps with one SAC gradient step (and, for AIL, one discriminator update) per env step. The
learners take turns (A B C A B C ...) so that a busy machine slows all of them alike.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import torch as th
from stable_baselines3 import SAC

from advrl.agents.ail import AdversarialSAC, expert_demonstrations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="Hopper-v5")
    parser.add_argument("--expert", default="ppo-hopper")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--learning-starts", type=int, default=1000)
    args = parser.parse_args()
    th.set_num_threads(1)
    demos = expert_demonstrations(args.expert, 4, seed=10_000)
    common = dict(learning_starts=args.learning_starts, seed=0, device="cpu")
    models = {
        "sac (true reward)": SAC("MlpPolicy", gym.make(args.task), **common),
        "ail, no gradient penalty": AdversarialSAC(
            "MlpPolicy", gym.make(args.task), demos, ail={"grad_pen": False}, **common
        ),
        "ail + gradient penalty": AdversarialSAC(
            "MlpPolicy", gym.make(args.task), demos, ail={"grad_pen": True}, **common
        ),
    }
    for m in models.values():
        m.learn(args.learning_starts + 10)  # fill the buffer, build everything
    seconds = dict.fromkeys(models, 0.0)
    for _ in range(args.repeats):
        for name, m in models.items():
            start = time.perf_counter()
            m.learn(args.steps, reset_num_timesteps=False)
            seconds[name] += time.perf_counter() - start
    rate = {k: args.steps * args.repeats / s for k, s in seconds.items()}
    base = rate["sac (true reward)"]
    print(f"{args.task}, {args.steps * args.repeats} timed env steps per learner")
    print("| learner | env steps/s | vs plain SAC |")
    print("|---|---:|---:|")
    for k, r in rate.items():
        print(f"| {k} | {r:.1f} | {r / base:.2f} |")
    ratio = rate["ail + gradient penalty"] / rate["ail, no gradient penalty"]
    print(f"gradient penalty on / off: {ratio:.2f}")
    print(json.dumps({"steps_per_second": rate, "gp_over_no_gp": ratio}))


if __name__ == "__main__":
    main()
