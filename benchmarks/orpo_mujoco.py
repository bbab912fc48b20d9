"""ORPO on a MuJoCo testbed: advrl/HalfCheetahUpright-v0.

    python benchmarks/orpo_mujoco.py --out runs/orpo_mujoco

1. Reference: PPO (zoo MuJoCo settings, VecNormalize) on the *true* reward, 1M steps, saved
   as a zoo-format checkpoint OUT/reference.safetensors; ORPO uses it acting 10% at random.
2. On the proxy, 1M steps each, raw observations (the discriminator and the reference see the
   same observations): plain PPO, ORPO (sqrt_chi2) at each coefficient, and the action-KL
   baseline (closed-form Gaussian KL to the greedy reference) at each of its coefficients.
Each run's final true and proxy returns (last 10% of training episodes) are written
atomically to OUT/<run>.json; a rerun skips finished runs.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ENV = "advrl/HalfCheetahUpright-v0"


def reference(out: Path, steps: int) -> None:
    import gymnasium as gym
    import torch as th
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import advrl  # noqa: F401
    from advrl.zoo.checkpoint import ObsStats, save_checkpoint
    from advrl.zoo.train import PPO_MUJOCO

    th.set_num_threads(1)

    class OptimiseTrue(gym.Wrapper):
        def step(self, action):
            obs, _, term, trunc, info = self.env.step(action)
            return obs, info["reward_true"], term, trunc, info

    venv = VecNormalize(make_vec_env(ENV, 8, seed=0, wrapper_class=OptimiseTrue))
    model = PPO("MlpPolicy", venv, seed=0, **PPO_MUJOCO).learn(steps)
    stats = ObsStats(venv.obs_rms.mean, venv.obs_rms.var, venv.clip_obs, venv.epsilon)
    save_checkpoint(out / "reference.safetensors", algo="PPO", env_id=ENV, policy=model.policy,
                    policy_kwargs=PPO_MUJOCO["policy_kwargs"], obs_stats=stats)  # fmt: skip


def run(name: str, coef: float, out: Path, steps: int) -> dict:
    import numpy as np
    import torch as th
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import advrl  # noqa: F401
    from advrl.agents.orpo import ORPO, ActionKLPPO, EpsilonReference
    from advrl.envs.proxy import LogTrueAndProxyReturns
    from advrl.zoo import load_file
    from advrl.zoo.checkpoint import atomic_write_bytes
    from advrl.zoo.train import PPO_MUJOCO

    th.set_num_threads(1)
    env = make_vec_env(ENV, 8, seed=0)
    if name == "ppo":
        model = PPO("MlpPolicy", env, seed=0, **PPO_MUJOCO)
    elif name == "action_kl":  # closed-form Gaussian KL to the (greedy) reference policy
        ref_policy = load_file(out / "reference.safetensors").torch_policy()
        model = ActionKLPPO("MlpPolicy", env, reference=ref_policy, coef=coef, seed=0,
                            **PPO_MUJOCO)  # fmt: skip
    else:
        ref = EpsilonReference(load_file(out / "reference.safetensors").torch_policy(), 0.1, seed=0)
        model = ORPO("MlpPolicy", env, reference=ref, reference_env=make_vec_env(ENV, 8, seed=1),
                     divergence="sqrt_chi2", coef=coef, seed=0, **PPO_MUJOCO)  # fmt: skip
    callback = LogTrueAndProxyReturns()
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    episodes = np.asarray(callback.episodes)
    tail = episodes[-max(1, len(episodes) // 10) :]
    record = {"run": name, "coef": coef, "steps": steps, "final_true": float(tail[:, 0].mean()),
              "final_proxy": float(tail[:, 1].mean()),
              "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    path = out / f"{name}-{coef:g}.json"
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/orpo_mujoco"))
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--coefs", type=float, nargs="+", default=[0.2, 1.0])
    parser.add_argument("--action-kl-coefs", type=float, nargs="+", default=[1.0])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not (args.out / "reference.safetensors").is_file():
        reference(args.out, args.steps)
    jobs = [("ppo", 0.0)] + [("orpo", c) for c in args.coefs]
    jobs += [("action_kl", c) for c in args.action_kl_coefs]
    jobs = [j for j in jobs if not (args.out / f"{j[0]}-{j[1]:g}.json").is_file()]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        for future in [pool.submit(run, *job, args.out, args.steps) for job in jobs]:
            print(json.dumps(future.result()))


if __name__ == "__main__":
    main()
