"""ACT over any Gymnasium env: the victim is SB3 PPO on ``VecAddCheapTalk``, trained one
fitness evaluation at a time. General (any Box/Dict-observation task, any SB3 policy) and
slow: every candidate adversary costs a full SB3 training run, which is what the batched
CartPole path (:mod:`advrl.attacks.act.trainer`) avoids. Also the throughput baseline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th

from advrl.attacks.act.es import OpenAIES
from advrl.envs.cheap_talk import LearnedMessage, VecAddCheapTalk
from advrl.progress import progress

MODES = ("anti", "pro")


def train_sb3_victim(
    env_id: str,
    source: Any,
    total_timesteps: int,
    seed: int = 0,
    n_envs: int = 4,
    scale: float = 2 * math.pi,
    device: str = "cpu",
    **ppo_kwargs: Any,
):
    """SB3 PPO trained on ``env_id`` with ``source``'s messages in its observation."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    venv = VecAddCheapTalk(
        make_vec_env(env_id, n_envs=n_envs, seed=seed), source, source.dims, scale
    )
    model = PPO("MlpPolicy", venv, seed=seed, device=device, verbose=0, **ppo_kwargs)
    return model.learn(total_timesteps)


def evaluate_sb3_victim(model, episodes: int = 4, seed: int = 0) -> float:
    """Mean deterministic return on the model's own (message-carrying) VecEnv."""
    venv = model.get_env()
    venv.seed(seed)
    obs, returns, current = venv.reset(), [], np.zeros(venv.num_envs)
    while len(returns) < episodes:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, done, _ = venv.step(action)
        current += reward
        for i in np.flatnonzero(done):
            returns.append(current[i])
            current[i] = 0.0
    return float(np.mean(returns[:episodes]))


def train_act_gym(
    env_id: str,
    mode: str = "anti",
    popsize: int = 8,
    generations: int = 5,
    total_timesteps: int = 8192,
    dims: int = 2,
    scale: float = 2 * math.pi,
    hidden: tuple[int, ...] = (32,),
    sigma: float = 0.1,
    lr: float = 0.03,
    seed: int = 0,
    callback: Callable[[dict[str, float]], None] | None = None,
    progress_bar: bool = False,
    **ppo_kwargs: Any,
) -> LearnedMessage:
    """ACT with one SB3 PPO victim per candidate; returns the adversary at the ES mean.

    ``progress_bar`` shows a bar over the generations.

    Raises:
        ValueError: unknown mode, or a population that is not an even integer >= 2.
    """
    import gymnasium as gym

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} on the gymnasium path, got {mode!r}")
    space = gym.make(env_id).observation_space
    source = LearnedMessage(gym.spaces.flatdim(space), dims, hidden, seed=seed)
    es = OpenAIES(th.as_tensor(source.flat()), popsize, sigma, lr, seed=seed)
    with progress(progress_bar, generations, "ACT", "generation") as bar:
        for g in range(generations):
            returns = []
            for k, candidate in enumerate(es.ask()):
                source.set_flat(candidate)
                model = train_sb3_victim(env_id, source, total_timesteps, seed=seed * 1000 + k,
                                         scale=scale, **ppo_kwargs)  # fmt: skip
                returns.append(evaluate_sb3_victim(model, seed=seed))
            returns_t = th.tensor(returns)
            es.tell(returns_t if mode == "pro" else -returns_t)
            bar.update(1)
            if callback is not None:
                callback({"generation": g, "return_mean": float(returns_t.mean())})
    source.set_flat(es.theta)
    return source
