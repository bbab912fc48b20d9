"""Certification throughput: smoothed CartPole episodes/s, batched vs one env at a time.

    python benchmarks/certify_throughput.py [--episodes 10000] [--loop-episodes 300]

Batched: ``smoothed_rollouts`` (Gymnasium's numpy CartPole vector env, 1000 episodes per
round, one policy call per step for all of them). Loop: the same smoothed agent in
``smoothed_env`` (SmoothObservation + FrameStackObservation), one episode and one policy
call at a time. Both run in this process, one after the other; the loop runs fewer episodes
(it is slow) and its rate is extrapolated.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch as th

import advrl.zoo
from advrl.agents.smoothing.envs import smoothed_env
from advrl.agents.smoothing.rollout import SmoothedTask, smoothed_rollouts


def loop_episodes_per_second(policy, n: int) -> float:
    env = smoothed_env(**gym.spec("advrl/SmoothedCartPole-v0").kwargs)
    start = time.perf_counter()
    with th.no_grad():
        for episode in range(n):
            obs, _ = env.reset(seed=episode)
            done = False
            while not done:
                x = policy.normalize(th.as_tensor(obs[None], dtype=th.float32))
                obs, _, term, trunc, _ = env.step(int(policy.action(x)[0]))
                done = term or trunc
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="ppo-cartpole-smooth-sigma0.2")
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--loop-episodes", type=int, default=300)
    args = parser.parse_args()
    th.set_num_threads(1)
    victim = advrl.zoo.load(args.policy)
    policy, task = victim.torch_policy(), SmoothedTask.from_zoo(victim)
    batched = smoothed_rollouts(policy, task, args.episodes, n_envs=1000, seed=0, progress=True)
    loop = loop_episodes_per_second(policy, args.loop_episodes)
    print(f"{args.policy}, sigma={task.sigma}, torch threads=1")
    print("| engine | episodes | episodes/s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| one env at a time | {args.loop_episodes} | {loop:,.1f} | 1.0 |")
    print(
        f"| batched (1000 envs) | {args.episodes} | {batched.episodes_per_second:,.1f} | "
        f"{batched.episodes_per_second / loop:,.0f}x |"
    )
    print(f"batched: {args.episodes} episodes in {batched.seconds:.1f} s, mean return "
          f"{batched.returns.mean():.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
