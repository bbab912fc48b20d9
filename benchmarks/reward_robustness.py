"""Lipschitz-regularised reward models under observation attacks (issue 17): the run behind
the "Reward-model robustness" numbers.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/reward_robustness.py [--seeds 0 1 2]

Runs :func:`advrl.bench.reward_robustness.reward_robustness_suite` on HalfCheetah-v5 (one cell
per seed and gradient-penalty target; each cell trains the unregularised, GP and SN reward
models on the same preferences) into ``runs/reward_robustness`` (resumes), one cell at a
time, then rebuilds ``reward_robustness.{csv,md,png}`` from the store.
"""

from __future__ import annotations

import argparse

from advrl.bench import run_suite
from advrl.bench.reward_robustness import (
    reward_robustness_suite,
    write_reward_robustness_report,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gp-targets", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--out", default="runs/reward_robustness")
    args = parser.parse_args()
    cells = [
        cell
        for k in args.gp_targets
        for cell in reward_robustness_suite(["HalfCheetah-v5"], args.seeds, gp_target=k)
    ]
    summary = run_suite(cells, args.out, workers=1)
    paths = write_reward_robustness_report(args.out)
    print(paths["markdown"].read_text())
    print(f"{len(summary.computed)} cells computed, {len(summary.skipped)} resumed, "
          f"{summary.seconds:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
