"""Train a learned adversary against a zoo victim and write its file and card.

The command that produced each shipped adversary is recorded in its card::

    python -m advrl.attacks.learned.train --kind optimal --victim ppo-hopper --steps 500000

``--eps`` defaults to the victim env's standard budget (``advrl.bench.cells.STANDARD_EPS``);
the file is written to ``--out`` (default: the shipped folder) as ``<kind>-<victim>``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from advrl.attacks.learned.artifacts import ADVERSARY_DIR
from advrl.attacks.learned.registry import ADVERSARY_KINDS, train_adversary
from advrl.attacks.learned.victims import victim_name


def standard_eps(victim: str) -> float:
    from advrl.attacks.learned.victims import load_victim
    from advrl.bench.cells import STANDARD_EPS

    env_id = load_victim(victim).env_id
    if env_id not in STANDARD_EPS:
        raise ValueError(
            f"no standard eps for {env_id!r}; pass --eps (known: {sorted(STANDARD_EPS)})"
        )
    return STANDARD_EPS[env_id]


def main(argv: list[str] | None = None) -> None:
    import torch as th

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=ADVERSARY_KINDS, required=True)
    parser.add_argument("--victim", required=True, help="zoo name or zoo-format .safetensors")
    parser.add_argument("--eps", type=float, default=None, help="default: the env's standard eps")
    parser.add_argument("--norm", default="linf", choices=["linf", "l2"])
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ADVERSARY_DIR)
    parser.add_argument("--name", default=None, help="file stem (default: <kind>-<victim>)")
    parser.add_argument(
        "--kwargs", type=json.loads, default={},
        help="JSON trainer settings, e.g. '{\"sarsa_eps\": 0.1, \"sarsa_reg\": 1.0}'",
    )  # fmt: skip
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    eps = args.eps if args.eps is not None else standard_eps(args.victim)
    if not isinstance(args.kwargs, dict):
        parser.error(f"--kwargs must be a JSON object, got {args.kwargs!r}")
    trained = train_adversary(
        args.kind, args.victim, eps, args.steps, norm=args.norm, seed=args.seed, **args.kwargs
    )
    name = args.name or f"{args.kind}-{victim_name(args.victim)}"
    command = "python -m advrl.attacks.learned.train " + shlex.join(sys.argv[1:] if argv is None
                                                                     else argv)  # fmt: skip
    path = trained.save(args.out / f"{name}.safetensors", command=command)
    print(json.dumps({"path": str(path), "train_seconds": trained.card.train_seconds,
                      "final_adversary_return": trained.card.final_adversary_return}))  # fmt: skip


if __name__ == "__main__":
    main()
