"""Run the off-policy AIL claim (issue 17): gradient penalty on vs off, into runs/imitation.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ail_imitation_run.py --tasks Hopper-v5 \
        --steps 30000

Resumable: finished cells are in the store; a rerun skips them. The report is rebuilt at the end.
"""

from __future__ import annotations

import argparse
import logging

from advrl.bench import run_suite
from advrl.bench.imitation import imitation_suite

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="+", default=["Hopper-v5"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--arms", nargs="+", default=["gp", "no_gp"])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--out", default="runs/imitation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cells = imitation_suite(args.tasks, args.seeds, args.steps, args.arms)
    summary = run_suite(cells, args.out, workers=1, progress=False)
    print(
        f"{len(summary.computed)} computed, {len(summary.skipped)} resumed, {summary.seconds:.0f} s"
    )
    from advrl.bench.imitation import write_imitation_report

    for kind, path in write_imitation_report(args.out).items():
        print(kind, path)
