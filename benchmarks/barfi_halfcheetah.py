"""BARFI vs naive REINFORCE on HalfCheetah: primary = run reward, aux = control cost.

    python benchmarks/barfi_halfcheetah.py [--batches 2000] [--envs 8] [--seeds 0 1 2]

A documented *longer* run (hours on a CPU at the defaults), not part of the test suite.
Each env is ``SplitReward(HalfCheetah-v5)`` (primary ``info["reward_forward"]``, aux
``info["reward_ctrl"]``); the learner is the same REINFORCE (Gaussian tanh-MLP policy,
Adam) with and without BARFI's outer step. Cells are written atomically to
<run-dir>/cells/ and skipped on a rerun; the table is printed from them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gymnasium as gym
import torch as th

from advrl.agents.barfi import BARFI
from advrl.agents.barfi.tasks import halfcheetah_split
from advrl.zoo.checkpoint import atomic_write_bytes


def run_cell(method: str, seed: int, args: argparse.Namespace) -> dict:
    env = gym.vector.SyncVectorEnv([halfcheetah_split] * args.envs)
    agent = BARFI(env, horizon=args.horizon, hidden=(64,), obs_scale=(5.0,), seed=seed,
                  inner_lr=args.inner_lr, learn_reward=method == "barfi")  # fmt: skip
    start = time.perf_counter()
    history = agent.learn(args.batches)
    tail = history[-max(1, args.batches // 10) :]
    return {
        "train_primary_return_last10pct": statistics.fmean(r["primary_return"] for r in tail),
        "train_aux_return_last10pct": statistics.fmean(r["aux_return"] for r in tail),
        "env_steps": sum(r["env_steps"] for r in history),
        "final": {k: history[-1][k] for k in ("gamma", "phi1", "phi2", "phi3")},
        "wall_s": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/barfi_halfcheetah")
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--horizon", type=int, default=1000)
    parser.add_argument("--inner-lr", type=float, default=3e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    th.set_num_threads(1)
    cells = Path(args.run_dir) / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for method in ("naive", "barfi"):
            key = f"{method}-s{seed}-b{args.batches}-n{args.envs}-h{args.horizon}"
            if (cells / f"{key}.json").is_file():
                continue
            record = {"method": method, "seed": seed, "result": run_cell(method, seed, args)}
            data = (json.dumps(record, indent=1) + "\n").encode()
            atomic_write_bytes(cells / f"{key}.json", data)
            print(key, json.dumps(record["result"]), flush=True)
    print("| method | seed | primary (run) return, last 10% | aux (ctrl) return | env steps |")
    print("|---|---|---:|---:|---:|")
    for path in sorted(cells.glob("*.json")):
        rec = json.loads(path.read_text())
        res = rec["result"]
        print(f"| {rec['method']} | {rec['seed']} | {res['train_primary_return_last10pct']:.1f} | "
              f"{res['train_aux_return_last10pct']:.1f} | {res['env_steps']:,.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
