"""Train a zoo policy and write its checkpoint and card.

The exact command that produced each shipped checkpoint is recorded in its card::

    python -m advrl.zoo.train --env HalfCheetah-v5 --name ppo-halfcheetah --steps 2000000 --seed 0

PPO (SB3) with observation and reward normalisation; the observation statistics are frozen
into the checkpoint so attacks can work in the normalised space (SA-PPO protocol).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

from advrl.zoo import ZOO_DIR, load_file
from advrl.zoo.checkpoint import ObsStats, atomic_write_bytes, save_checkpoint, stack_versions

# Small networks keep each checkpoint far below 1 MB; large batches keep CPU training fast.
PPO_MUJOCO = dict(
    n_steps=512,
    batch_size=256,
    n_epochs=10,
    learning_rate=3e-4,
    gamma=0.99,
    gae_lambda=0.95,
    clip_range=0.2,
    ent_coef=0.0,
    policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=th.nn.Tanh),
)
PPO_CLASSIC = dict(
    n_steps=256,
    batch_size=256,
    n_epochs=10,
    learning_rate=1e-3,
    gamma=0.98,
    gae_lambda=0.8,
    clip_range=0.2,
    ent_coef=0.0,
    policy_kwargs=dict(net_arch=dict(pi=[32, 32], vf=[32, 32]), activation_fn=th.nn.Tanh),
)


ALGOS = ("ppo", "sappo", "atla", "atla-sappo")
"""``ppo``: vanilla PPO; ``sappo``: SA-PPO (:class:`advrl.agents.sappo.SAPPO`) at the env's
standard eps, the reference's kappa 0.1 and 10 SGLD steps; ``atla``: ATLA-PPO
(:class:`advrl.agents.atla.ATLA`, victim and optimal adversary alternating one rollout each,
``steps`` victim steps); ``atla-sappo``: ATLA with the SA regulariser on the victim."""


def standard_eps(env_id: str) -> float:
    from advrl.bench.cells import STANDARD_EPS

    if env_id not in STANDARD_EPS:
        known = sorted(STANDARD_EPS)
        raise ValueError(f"robust training needs a standard eps for {env_id!r}; known: {known}")
    return STANDARD_EPS[env_id]


def train_atla(env_id: str, steps: int, seed: int, n_envs: int, hparams: dict, sa_kappa: float):
    """Run ATLA for ``steps`` victim steps; returns the victim, its VecNormalize and settings."""
    from advrl.agents.atla import ATLA

    eps = standard_eps(env_id)
    adversary_kwargs = {**hparams, "learning_rate": 1e-3}
    atla = ATLA(env_id, eps, sa_kappa=sa_kappa, total_steps=steps, n_envs=n_envs, seed=seed,
                victim_kwargs=hparams, adversary_kwargs=adversary_kwargs)  # fmt: skip
    iterations = max(1, steps // (hparams["n_steps"] * n_envs))
    atla.learn(iterations)
    settings = dict(eps=eps, sa_kappa=sa_kappa, iterations=iterations, adversary_learning_rate=1e-3,
                    adversary_steps=atla.adversary.num_timesteps)  # fmt: skip
    return atla.victim, atla.vec_normalize, settings


def make_learner(algo: str, env_id: str, venv, seed: int, hparams: dict, sa_kappa: float):
    """The PPO or SA-PPO learner and the settings its card records."""
    if algo == "ppo":
        return PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **hparams), {}
    from advrl.agents.sappo import SAPPO

    sa = dict(sa_kappa=sa_kappa, sa_eps=standard_eps(env_id), sa_steps=10, sa_ramp=0.75)
    model = SAPPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **sa, **hparams)
    return model, sa


def train(
    env_id: str,
    name: str,
    steps: int,
    seed: int,
    n_envs: int,
    out_dir: Path,
    env_kwargs: dict | None = None,
    algo: str = "ppo",
    sa_kappa: float = 0.1,
) -> dict:
    th.set_num_threads(1)
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; allowed: {list(ALGOS)}")
    env_kwargs = env_kwargs or {}
    # Discrete-action (classic control) tasks get the small fast preset.
    discrete = isinstance(gym.make(env_id, **env_kwargs).action_space, gym.spaces.Discrete)
    hparams = PPO_CLASSIC if discrete else PPO_MUJOCO
    start = time.perf_counter()
    if algo.startswith("atla"):
        if env_kwargs:
            raise ValueError(f"{algo} takes no env_kwargs, got {env_kwargs}")
        kappa = sa_kappa if algo == "atla-sappo" else 0.0
        model, venv, extra = train_atla(env_id, steps, seed, n_envs, hparams, kappa)
    else:
        venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
        venv = VecNormalize(venv, clip_obs=10.0)
        model, extra = make_learner(algo, env_id, venv, seed, hparams, sa_kappa)
        model.learn(steps, progress_bar=False)
    train_seconds = time.perf_counter() - start

    ckpt_path = out_dir / f"{name}.safetensors"
    save_checkpoint(
        ckpt_path,
        algo="PPO",
        env_id=env_id,
        policy=model.policy,
        policy_kwargs=hparams["policy_kwargs"],
        env_kwargs=env_kwargs,
        obs_stats=ObsStats.from_vec_normalize(venv),
    )
    # Measure the clean return on the file we ship, not on the in-memory model.
    zoo_policy = load_file(ckpt_path, name=name)
    eval_seed = 10_000 + seed
    returns, lengths = evaluate_policy(
        zoo_policy.model,
        zoo_policy.make_vec_env(n_envs=10, seed=eval_seed),
        n_eval_episodes=50,
        deterministic=True,
        return_episode_rewards=True,
    )
    card = {
        "name": name,
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "algo": "PPO",
        "trainer": algo.upper(),
        **({"robust_training": extra} if extra else {}),
        "command": "python -m advrl.zoo.train " + shlex.join(sys.argv[1:]),
        "seed": seed,
        "total_timesteps": steps,
        "n_envs": n_envs,
        "hyperparameters": {k: v for k, v in hparams.items() if k != "policy_kwargs"},
        "net_arch": hparams["policy_kwargs"]["net_arch"],
        "clean_return": {
            "episodes": len(returns),
            "deterministic": True,
            "eval_seed": eval_seed,
            "mean": float(np.mean(returns)),
            "std": float(np.std(returns)),
            "mean_length": float(np.mean(lengths)),
        },
        "train_seconds": round(train_seconds, 1),
        "versions": stack_versions(),
    }
    atomic_write_bytes(ckpt_path.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="Gymnasium env id, e.g. Hopper-v5")
    parser.add_argument("--name", required=True, help="zoo name, e.g. ppo-hopper")
    parser.add_argument("--steps", type=int, required=True, help="total environment steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="output folder")
    parser.add_argument(
        "--env-kwargs", type=json.loads, default={}, help="JSON, e.g. '{\"sigma\": 0.2}'"
    )
    parser.add_argument(
        "--algo",
        choices=ALGOS,
        default="ppo",
        help="ppo, sappo (SA-PPO), atla (ATLA-PPO) or atla-sappo",
    )
    parser.add_argument("--sa-kappa", type=float, default=0.1, help="SA-PPO regulariser weight")
    args = parser.parse_args(argv)
    card = train(args.env, args.name, args.steps, args.seed, args.n_envs, args.out, args.env_kwargs,
                 args.algo, args.sa_kappa)  # fmt: skip
    print(json.dumps(card["clean_return"]), f"in {card['train_seconds']} s")


if __name__ == "__main__":
    main()
