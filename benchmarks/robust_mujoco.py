"""RARL and QARL vs plain PPO across a mass sweep (InvertedPendulum-v5 by default).

    python benchmarks/robust_mujoco.py --out runs/robust_pendulum [--seeds 0 1 2]
    python benchmarks/robust_mujoco.py --env HalfCheetah-v5 --mass-bodies torso \
        --methods ppo rarl --seeds 0 --steps 1000000 --masses 0.5 0.75 1 1.25 1.5 \
        --adversary-steps 200000 --out runs/robust_halfcheetah

Trains, per seed: plain PPO and RARL (PPO vs PPO adversary) for ``--steps`` protagonist
steps; plain SAC and QARL (SAC vs temperature-SAC adversary, self-paced curriculum) for
``--qarl-steps`` (SAC learns this task in far fewer steps than PPO); then
evaluates every protagonist (deterministic, 10 episodes per point) across pole-mass
multipliers, with no adversary and against a freshly trained worst-case adversary. Each
finished (method, seed) is written atomically to OUT/<method>-s<seed>.json, with the
protagonist saved beside it as OUT/<method>-s<seed>.zip; a rerun resumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.qarl import QARL
from advrl.agents.rarl import RARL
from advrl.agents.robustness import evaluate_protagonist, train_worst_case_adversary
from advrl.zoo.checkpoint import atomic_write_bytes

PPO_KW = dict(n_steps=256, batch_size=256, n_epochs=10, policy_kwargs=dict(net_arch=[64, 64]))
SAC_KW = dict(learning_starts=1000, batch_size=256, policy_kwargs=dict(net_arch=[64, 64]))


def train(method: str, seed: int, steps: int, env: str):
    if method == "ppo":
        model = PPO("MlpPolicy", make_vec_env(env, 8, seed=seed), seed=seed, **PPO_KW)
        return model.learn(steps)
    if method == "sac":  # the plain baseline for QARL's SAC protagonist
        from stable_baselines3 import SAC

        return SAC("MlpPolicy", make_vec_env(env, 1, seed=seed), seed=seed, **SAC_KW).learn(steps)
    if method == "rarl":
        rarl = RARL(env, n_envs=8, algo_kwargs=PPO_KW, strength=1.0, seed=seed)
        return rarl.learn(iterations=steps // rarl.protagonist_steps).protagonist
    if method == "qarl":
        qarl = QARL(env, sac_kwargs=SAC_KW, floor=100.0, update_every=10, seed=seed)
        while qarl.protagonist.num_timesteps < steps:
            qarl.learn(iterations=1)
        return qarl.protagonist
    raise ValueError(method)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/robust_pendulum"))
    parser.add_argument("--env", default="InvertedPendulum-v5")
    parser.add_argument("--mass-bodies", nargs="+", default=["pole"])
    parser.add_argument("--methods", nargs="+", default=["ppo", "rarl", "sac", "qarl"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000, help="protagonist env steps")
    parser.add_argument("--qarl-steps", type=int, default=30_000)
    parser.add_argument("--masses", type=float, nargs="+",
                        default=[1.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0])  # fmt: skip
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--adversary-steps", type=int, default=50_000)
    args = parser.parse_args()
    th.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for method in args.methods:
            path = args.out / f"{method}-s{seed}.json"
            if path.is_file():
                continue
            start = time.perf_counter()
            steps = args.qarl_steps if method in ("qarl", "sac") else args.steps
            model = train(method, seed, steps, args.env)
            train_s = time.perf_counter() - start
            model.save(args.out / f"{method}-s{seed}.zip")  # for `advrl bench robustness`
            sweep = {}
            for m in args.masses:
                returns = evaluate_protagonist(
                    model, args.env, mass_scale=m, bodies=args.mass_bodies,
                    n_episodes=args.episodes, seed=100,
                )  # fmt: skip
                sweep[str(m)] = float(returns.mean())
            worst = train_worst_case_adversary(model, args.env, args.adversary_steps, seed=seed,
                                               algo_kwargs=PPO_KW)  # fmt: skip
            from advrl.envs.agent_view import Opponent

            vs_worst = evaluate_protagonist(
                model, args.env, adversary=Opponent(worst, deterministic=True),
                n_episodes=args.episodes, seed=100,
            )  # fmt: skip
            record = {
                "method": method, "seed": seed, "protagonist_steps": steps,
                "train_seconds": round(train_s, 1), "mass_sweep": sweep,
                "mean_over_sweep": float(np.mean(list(sweep.values()))),
                "vs_worst_case_adversary": float(vs_worst.mean()),
            }  # fmt: skip
            atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
            print(json.dumps(record))


if __name__ == "__main__":
    main()
