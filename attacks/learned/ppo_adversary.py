"""Train an SB3 PPO adversary on an adversary env (the optimal attack, PA-AD's director).

Both learned attacks train the same way: ``n_envs`` copies of their env stepped by
:class:`~advrl.attacks.learned.adversary_env.VecObservationAdversary` (one batched victim call
per step), rewards normalised as the reference's ``norm_rewards: returns`` (observations are
the victim's normalised ones already), then a card recording what was trained for what.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from advrl.attacks.learned.adversary_env import ObservationAdversaryEnv, VecObservationAdversary
from advrl.attacks.learned.artifacts import KIND_ENV_IDS, AdversaryCard


def train_ppo_adversary(
    kind: str,
    env_class: type[ObservationAdversaryEnv],
    env_kwargs: dict[str, Any],
    steps: int,
    *,
    seed: int,
    n_envs: int,
    device: str,
    hparams: dict[str, Any],
    recorded: dict[str, Any] | None = None,
) -> tuple[PPO, AdversaryCard]:
    """The trained PPO model and its card; ``env_kwargs`` name the victim, its digest, eps
    and norm (they become the file's header), ``recorded`` adds card hyperparameters."""
    first = env_class(**env_kwargs)  # validates before the other n_envs - 1 are built
    envs = VecObservationAdversary(
        [lambda: first] + [lambda: env_class(**env_kwargs)] * (n_envs - 1)
    )
    envs.seed(seed)
    venv = VecNormalize(VecMonitor(envs), norm_obs=False, norm_reward=True)
    model = PPO("MlpPolicy", venv, seed=seed, device=device, verbose=0, **hparams)
    start = time.perf_counter()
    model.learn(steps)
    episode_returns = [ep["r"] for ep in model.ep_info_buffer]
    card = AdversaryCard(
        kind=kind, victim=env_kwargs["victim"], victim_digest=env_kwargs["victim_digest"],
        eps=float(env_kwargs["eps"]), norm=env_kwargs["norm"], env_id=KIND_ENV_IDS[kind],
        env_kwargs=env_kwargs, steps=int(steps), seed=seed,
        train_seconds=round(time.perf_counter() - start, 1),
        hyperparameters={
            **{k: v for k, v in hparams.items() if k not in ("policy_kwargs", "learning_rate")},
            "learning_rate": _number_or_name(hparams["learning_rate"]), "n_envs": n_envs,
            **(recorded or {}),
        },
        policy_kwargs=hparams["policy_kwargs"],
        final_adversary_return=float(np.mean(episode_returns)) if episode_returns else None,
    )  # fmt: skip
    return model, card


def _number_or_name(value: Any) -> Any:
    return value if isinstance(value, int | float) else type(value).__name__
