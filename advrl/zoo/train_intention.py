"""Train and ship an intention policy for RAT (the behaviour a targeted attacker wants),
learned from synthetic preferences over a target behaviour, weights-only with a card:

    python -m advrl.zoo.train_intention --victim ppo-halfcheetah --target backward \\
        --name intention-halfcheetah-backward --seed 0

It is the intention of ``advrl bench targeted``'s cell with the same settings
(:func:`advrl.bench.targeted.train_intention`: 400 segments, 2,000 labels, a 3-member
reward ensemble, 200k PPO steps on its mean reward) and the default intention of
``advrl/TargetedAdversary-v0``. The card records the ensemble's held-out accuracy, the
policy's task return (``clean_return``: the victim's reward, which running backward
lowers) and its target results, all measured on the file just written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch as th

from advrl.zoo import ZOO_DIR
from advrl.zoo.checkpoint import ObsStats, atomic_write_bytes, save_checkpoint, stack_versions


def train(victim: str, target: str, name: str, seed: int, out_dir: Path, steps: int) -> dict:
    from advrl.attacks.learned.victims import load_victim
    from advrl.bench.targeted import (
        TARGETS,
        TargetedCell,
        evaluate_intention,
        summarise,
        train_intention,
    )
    from advrl.zoo import load_file

    th.set_num_threads(1)
    cell = TargetedCell(victim=victim, target=target, seed=seed, intention_steps=steps)
    start = time.perf_counter()
    model, venv, record = train_intention(cell, load_victim(victim))
    seconds = time.perf_counter() - start
    env_id = TARGETS[target].env_id
    path = out_dir / f"{name}.safetensors"
    save_checkpoint(path, algo="PPO", env_id=env_id, policy=model.policy,
                    policy_kwargs=model.policy_kwargs,
                    obs_stats=ObsStats.from_vec_normalize(venv))  # fmt: skip
    intention = load_file(path, name=name).torch_policy()
    eval_seed = 10_000 + seed
    episodes = evaluate_intention(intention, target, 50, eval_seed)
    row = summarise("intention", episodes, target)
    returns = [e["return"] for e in episodes]
    card = {
        "name": name, "env_id": env_id, "env_kwargs": {}, "algo": "PPO",
        "trainer": "preferences", "victim": victim, "target": target,
        "target_description": TARGETS[target].description,
        "command": "python -m advrl.zoo.train_intention " + shlex.join(sys.argv[1:]),
        "seed": seed, "total_timesteps": steps, "n_envs": cell.n_envs,
        "preferences": {"segments": cell.n_segments, "pairs": cell.n_pairs,
                        "members": cell.members, "epochs": cell.rm_epochs, **record},
        "clean_return": {"episodes": len(returns), "deterministic": True,
                         "eval_seed": eval_seed, "mean": float(np.mean(returns)),
                         "std": float(np.std(returns)), "mean_length": float(
                             np.mean([e["length"] for e in episodes]))},
        "target_results": {k: row[k] for k in ("episodes", "successes", "success_rate",
                                               "mean_x_velocity", "mean_target_return")},
        "train_seconds": round(seconds, 1),
        "versions": stack_versions(),
    }  # fmt: skip
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    return card


def main(argv: list[str] | None = None) -> None:
    from advrl.bench.targeted import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victim", default="ppo-halfcheetah", help="zoo name of the victim")
    parser.add_argument("--target", default="backward", choices=sorted(TARGETS))
    parser.add_argument("--name", required=True,
                        help="zoo name, e.g. intention-halfcheetah-backward")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200_000, help="PPO steps of the intention")
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="output folder")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    card = train(args.victim, args.target, args.name, args.seed, args.out, args.steps)
    print(json.dumps(card["target_results"]), f"in {card['train_seconds']} s")


if __name__ == "__main__":
    main()
