"""Rerun the hacking cells whose training the reference-convention fixes changed.

The fixes of issue 12 (ORPO's reward clip on the penalty term only; the action-KL
coefficient scaled by 1 / (1 - gamma), with a KL fallback where chi^2 diverges) change only
the action-KL cells and the clipped ORPO cells; PPO and unclipped ORPO train exactly as
before. This runs just those cells, into run directories that ``advrl bench hacking --out``
resumes (same cells, same keys), and rebuilds their reports.

    python benchmarks/orpo_conventions_rerun.py [--workers 2] [--only cheetah|tomato]

For a same-run comparison the unchanged cells (PPO, unclipped ORPO) are then added to the
same run directories by the bench command itself, which resumes these cells, e.g.
``advrl bench hacking --testbeds advrl/Tomato-v0 --action-kl 0.01 0.1 1.0 --out
runs/hacking_reference``.
"""

from __future__ import annotations

import argparse

from advrl.bench.hacking import hacking_suite, write_hacking_report
from advrl.bench.runner import run_suite

CHEETAH = dict(testbeds=["advrl/HalfCheetahUpright-v0"], action_kl_coefs=[1.0],
               orpo=[("sqrt_chi2", 1.0)], seeds=[0, 1, 2], steps=1_000_000,
               orpo_epsilons=(0.0, 0.1), orpo_reward_clip=10.0)  # fmt: skip
TOMATO = dict(action_kl_coefs=[0.01, 0.1, 1.0], orpo=[], seeds=[0, 1, 2], steps=200_000)
TOMATO_RUNS = (("advrl/Tomato-v0", "hacking"), ("advrl/TomatoHard-v0", "hacking_hard"))


def changed(cells):
    """The cells whose training the convention fixes changed."""
    return [c for c in cells if c.convention_matters]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["cheetah", "tomato"], default=None)
    parser.add_argument("--out", default="runs", help="parent of the run directories")
    args = parser.parse_args()
    runs = []
    if args.only in (None, "cheetah"):
        cells = changed(hacking_suite(**CHEETAH))
        # The matched comparison (reference epsilon 0) first, the epsilon-0.1 mixture last.
        cells.sort(key=lambda c: c.epsilon)
        runs.append((f"{args.out}/hacking_cheetah_reference", cells))
    if args.only in (None, "tomato"):
        for testbed, name in TOMATO_RUNS:
            cells = changed(hacking_suite([testbed], **TOMATO))
            runs.append((f"{args.out}/{name}_reference", cells))
    for out, cells in runs:
        summary = run_suite(cells, out, workers=args.workers)
        print(
            f"{out}: {len(summary.computed)} computed, {len(summary.skipped)} resumed, "
            f"{summary.seconds:.0f} s"
        )
        print(write_hacking_report(out)["markdown"].read_text())


if __name__ == "__main__":
    main()
