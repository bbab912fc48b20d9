"""Does plain PPO hack the MuJoCo proxies? PPO on the proxy vs PPO on the true reward.

    python benchmarks/mujoco_hacking.py --out runs/mujoco_hacking

For each testbed, trains SB3 PPO (the zoo's MuJoCo settings, observation and reward
normalisation) once on the proxy and once on the true reward, and records true and proxy
returns of the training episodes and the proxy-true correlation over the last rollout's
visited states. Runs go to a process pool (2 at a time); each result is written atomically
to OUT/<testbed>-<optimised>.json and skipped on a rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

TESTBEDS = {
    "advrl/HalfCheetahUpright-v0": 1_000_000,
    "advrl/HopperLunge-v0": 500_000,
    "advrl/ReacherX-v0": 300_000,
}


def run(testbed: str, optimised: str, steps: int, out: Path) -> dict:
    import gymnasium as gym
    import numpy as np
    import torch as th
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import advrl  # noqa: F401  (registers the testbeds)
    from advrl.envs.proxy import LogTrueAndProxyReturns
    from advrl.zoo.checkpoint import atomic_write_bytes
    from advrl.zoo.train import PPO_MUJOCO

    th.set_num_threads(1)

    class OptimiseTrue(gym.Wrapper):
        """Return the true reward (info untouched, so both returns are still logged)."""

        def step(self, action):
            obs, _, term, trunc, info = self.env.step(action)
            return obs, info["reward_true"], term, trunc, info

    wrapper = OptimiseTrue if optimised == "true" else None
    venv = VecNormalize(make_vec_env(testbed, 8, seed=0, wrapper_class=wrapper))
    model = PPO("MlpPolicy", venv, seed=0, **PPO_MUJOCO)
    callback = LogTrueAndProxyReturns()
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    episodes = np.asarray(callback.episodes)
    tail = episodes[-max(1, len(episodes) // 10) :]
    record = {
        "testbed": testbed, "optimised": optimised, "steps": steps,
        "final_true": float(tail[:, 0].mean()), "final_proxy": float(tail[:, 1].mean()),
        "correlation_last_rollout": callback.last_correlation,
        "curve": [c.mean(axis=0).tolist() for c in np.array_split(episodes, 10)],
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    path = out / f"{testbed.split('/')[-1]}-{optimised}.json"
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/mujoco_hacking"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (testbed, optimised, steps)
        for testbed, steps in TESTBEDS.items()
        for optimised in ("proxy", "true")
        if not (args.out / f"{testbed.split('/')[-1]}-{optimised}.json").is_file()
    ]
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run, *job, args.out) for job in jobs]
        for future in futures:
            r = future.result()
            corr = r["correlation_last_rollout"]
            print(f"{r['testbed']} optimising {r['optimised']}: true {r['final_true']:.1f}, "
                  f"proxy {r['final_proxy']:.1f}, corr {corr:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
