"""Scaling curves: how advrl's cost grows with the work (issue 15).

    python benchmarks/scaling --curve NAME [--out benchmarks/figures] [--repeats 3]

Curves (each one command; ``--curve all`` runs them in this order):

  n_envs        attack cost vs n_envs (1-64): clean, FGSM, PGD-10 on HalfCheetah
  attack_steps  attack cost vs PGD steps (1-100) at 16 envs
  certify       certification time vs episodes (1e3-1e5): rollouts and the certificate
  act           ACT generation time vs population (8-1,024)
  backends      an attacks suite on the local process pool and on a local Ray cluster, 1 vs 2
                workers (starts and stops the cluster)

Each writes OUT/scaling_NAME.png (one panel per clock, error bars from the fastest to the
slowest repeat), OUT/scaling_NAME.md (the table, printed too) and OUT/scaling_NAME.json (every
timing; --replot redraws the other two from it). Repeats alternate the configurations so
machine noise hits them alike; torch runs single-threaded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch as th

CURVES = ("n_envs", "attack_steps", "certify", "act", "backends")


def build(name: str, args: argparse.Namespace):
    # Imported per curve: each pulls in its own stack (MuJoCo, the smoothing rollouts, ...).
    if name == "n_envs":
        from attack_curves import n_envs_curve

        return n_envs_curve(args.repeats, args.env_steps)
    if name == "attack_steps":
        from attack_curves import attack_steps_curve

        return attack_steps_curve(args.repeats, args.env_steps // 2)
    if name == "certify":
        from certify_curve import certify_curve

        return certify_curve(args.repeats)
    if name == "act":
        from act_curve import act_curve

        return act_curve(args.repeats, args.act_updates, device=args.device)
    from backend_curve import backend_curve

    return backend_curve(args.repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curve", required=True, choices=[*CURVES, "all"])
    parser.add_argument("--out", type=Path, default=Path("runs/scaling"), help="report folder")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats (median)")
    parser.add_argument("--env-steps", type=int, default=1024,
                        help="env steps per point (n_envs; half for attack_steps)")  # fmt: skip
    parser.add_argument("--act-updates", type=int, default=2, help="PPO updates per victim")
    parser.add_argument("--device", default="cpu", help="torch device of the ACT curve")
    parser.add_argument("--replot", action="store_true",
                        help="redraw PNG and table from OUT/scaling_NAME.json")  # fmt: skip
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    th.set_num_threads(1)
    from measure import read, write

    for name in CURVES if args.curve == "all" else (args.curve,):
        if args.replot:
            print(write(read(name, args.out), args.out))
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        curve = build(name, args)
        print(write(curve, args.out))
        print(f"[{name}: {time.perf_counter() - wall:.0f} s wall, "
              f"{time.process_time() - cpu:.0f} s CPU of this process; "
              f"wrote {args.out}/scaling_{name}.png, .md, .json]\n")  # fmt: skip


if __name__ == "__main__":
    main()
