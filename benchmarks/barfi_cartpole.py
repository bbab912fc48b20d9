"""BARFI vs naive REINFORCE on r_p + r_aux, CartPole with PD-controller auxiliary rewards.

    python benchmarks/barfi_cartpole.py [--batches 300] [--run-dir runs/barfi_cartpole]

Both methods are the same REINFORCE learner (2-layer tanh policy, 16 hidden, Adam 0.01) on
the same batches (16 envs x one episode of at most 500 steps per update); BARFI adds an
outer implicit-gradient step on (phi, w) every 2 batches that reuses the last batch, so the
env-step budgets are equal. Tasks (aux reward per step):

- bad: +1 when the action is the opposite of the PD controller's (the paper's misleading aux);
- bad_penalty x2: -2 when the action matches the PD controller's (misleading and strong
  enough that dying early maximises r_p + r_aux);
- good: +1 when the action matches.

Reference (``--primary-only`` tasks): the same learner on r_p alone, i.e. dropping the aux.

Each (task, method, seed) cell is written atomically to <run-dir>/cells/ before the next
starts; a rerun skips finished cells. The report (<run-dir>/report.md) is rebuilt from them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch as th

from advrl.agents.barfi import BARFI, CartPoleAuxBatch
from advrl.zoo.checkpoint import atomic_write_bytes

TASKS = {"bad_penalty": ("bad_penalty", 2.0), "bad": ("bad", 1.0), "good": ("good", 1.0)}
OBS_SCALE = (2.4, 3.0, 0.21, 3.0)  # cart and pole limits: phi's features tanh(obs / scale)


def run_cell(task: str, method: str, seed: int, args: argparse.Namespace) -> dict:
    mode, scale = TASKS[task]
    env = CartPoleAuxBatch(args.envs, mode, scale, max_episode_steps=args.horizon)
    init = (0.0, 1.0, 0.0) if method == "primary_only" else (0.0, 1.0, 1.0)
    agent = BARFI(env, horizon=args.horizon, obs_scale=OBS_SCALE, seed=seed,
                  learn_reward=method == "barfi", reward_init=init)  # fmt: skip
    start = time.perf_counter()
    history = agent.learn(args.batches)
    wall = time.perf_counter() - start
    tail = history[-max(1, args.batches // 10) :]
    return {
        "eval_primary_return": agent.evaluate(64, seed=10_000 + seed),
        "train_primary_return_last10pct": statistics.fmean(r["primary_return"] for r in tail),
        "train_aux_return_last10pct": statistics.fmean(r["aux_return"] for r in tail),
        "env_steps": sum(r["env_steps"] for r in history),
        "final": {k: history[-1][k] for k in ("gamma", "phi1", "phi2", "phi3")},
        "wall_s": wall,
    }


def report(cells: Path, out: Path) -> str:
    records = [json.loads(p.read_text()) for p in sorted(cells.glob("*.json"))]
    lines = [
        "| task | seeds | naive return | BARFI return | ratio BARFI/naive | "
        "BARFI final phi3 | env steps (naive / BARFI) | r_p only (reference) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for task in TASKS:
        by = {m: [r for r in records if r["task"] == task and r["method"] == m]
              for m in ("naive", "barfi")}  # fmt: skip
        seeds = sorted({r["seed"] for r in by["naive"]} & {r["seed"] for r in by["barfi"]})
        if not seeds:
            continue
        ret = {m: [r["result"]["eval_primary_return"] for r in by[m] if r["seed"] in seeds]
               for m in by}  # fmt: skip
        steps = {m: statistics.fmean(r["result"]["env_steps"] for r in by[m]) for m in by}
        phi3 = statistics.fmean(r["result"]["final"]["phi3"] for r in by["barfi"])

        def fmt(xs: list[float]) -> str:
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            return f"{statistics.fmean(xs):.1f} ± {sd:.1f} ({', '.join(f'{x:.0f}' for x in xs)})"

        ratio = statistics.fmean(ret["barfi"]) / max(statistics.fmean(ret["naive"]), 1e-9)
        ref = [r["result"]["eval_primary_return"] for r in records
               if r["task"] == task and r["method"] == "primary_only"]  # fmt: skip
        lines.append(
            f"| {task} | {','.join(map(str, seeds))} | {fmt(ret['naive'])} | "
            f"{fmt(ret['barfi'])} | {ratio:.2f} | {phi3:.2f} | "
            f"{steps['naive']:,.0f} / {steps['barfi']:,.0f} | {fmt(ref) if ref else '-'} |"
        )
    text = "\n".join(lines) + "\n"
    atomic_write_bytes(out, text.encode())
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="runs/barfi_cartpole")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--horizon", type=int, default=500)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--side-seeds", type=int, default=3,
                        help="seeds for the non-headline tasks (bad, good)")  # fmt: skip
    parser.add_argument("--primary-only", nargs="*", default=["bad_penalty"],
                        help="tasks that also get REINFORCE on r_p alone")  # fmt: skip
    args = parser.parse_args()
    th.set_num_threads(1)
    run_dir = Path(args.run_dir)
    cells = run_dir / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(vars(args), indent=1) + "\n")
    for task in args.tasks:
        seeds = args.seeds if task == "bad_penalty" else args.seeds[: args.side_seeds]
        for seed in seeds:
            methods = ["naive", "barfi"] + (["primary_only"] if task in args.primary_only else [])
            for method in methods:
                key = f"{task}-{method}-s{seed}-b{args.batches}-n{args.envs}-h{args.horizon}"
                path = cells / f"{key}.json"
                if path.is_file():
                    continue
                result = run_cell(task, method, seed, args)
                record = {"task": task, "method": method, "seed": seed, "result": result}
                atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
                print(key, json.dumps(result), flush=True)
    print(report(cells, run_dir / "report.md"))


if __name__ == "__main__":
    main()
