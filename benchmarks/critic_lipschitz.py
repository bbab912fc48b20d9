"""Lipschitz-regularised PPO critics vs the critic attack (issue 17; Zheng et al. 2023).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/critic_lipschitz.py --out runs/critic_lipschitz

Resumable: cells already in the store are skipped. One process, one core (the runner sets
torch to one thread), so the training throughputs of a seed's cells compare.
"""

from __future__ import annotations

import argparse

from advrl.bench import run_suite
from advrl.bench.critic_lipschitz import VARIANTS, critic_lipschitz_suite
from advrl.bench.critic_lipschitz_report import write_critic_lipschitz_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/critic_lipschitz")
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=0, help="0: the env's default")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    cells = critic_lipschitz_suite(args.envs, args.variants, args.seeds, args.steps,
                                   episodes=args.episodes)  # fmt: skip
    summary = run_suite(cells, args.out)
    paths = write_critic_lipschitz_report(args.out)
    print(paths["markdown"].read_text())
    print(
        f"{len(summary.computed)} computed, {len(summary.skipped)} resumed, "
        f"{summary.seconds:.0f} s; reports: {', '.join(map(str, paths.values()))}"
    )


if __name__ == "__main__":
    main()
