"""Entry points for the attacked-env ids registered under ``advrl/``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium as gym

from advrl.attacks import GRADIENT_ATTACKS, make_attack
from advrl.attacks.wrappers import PerturbObservation
from advrl.policies import NoVictim


def perturbed_observation_env(
    env_id: str = "CartPole-v1",
    attack: str = "uniform",
    eps: float = 0.05,
    norm: str = "linf",
    victim: str | None = None,
    space: str = "normalized",
    seed: int | None = None,
    attack_kwargs: dict[str, Any] | None = None,
    **env_kwargs: Any,
) -> gym.Env:
    """``gym.make("advrl/PerturbedObservation-v0", env_id=..., attack=..., eps=..., victim=...)``.

    Args:
        env_id: the task to attack.
        attack: attack name (``advrl.attacks.ATTACKS``).
        eps: budget; in the victim's normalised space unless ``space="raw"``.
        victim: zoo policy name; required for gradient attacks, optional for noise (without
            one, noise is added in the raw observation space).
    """
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; see gymnasium.registry or `advrl list`")
    built_attack = make_attack(attack, eps, norm, **(attack_kwargs or {}))
    env = gym.make(env_id, **env_kwargs)
    if victim is None:
        if attack in GRADIENT_ATTACKS:
            raise ValueError(f"attack {attack!r} needs a victim: pass victim=<zoo name>")
        return PerturbObservation(env, built_attack, NoVictim(env.observation_space), "raw", seed)
    victim_env, policy = _zoo_victim(victim)
    if victim_env != env_id:
        raise ValueError(f"victim {victim!r} was trained on {victim_env}, not {env_id}")
    return PerturbObservation(env, built_attack, policy, space, seed)


@lru_cache(maxsize=8)
def _zoo_victim(name: str):
    """Load each zoo victim once: every env of a vector env (and every env rebuilt from a
    spec) shares the same read-only policy."""
    import advrl.zoo

    zoo_policy = advrl.zoo.load(name)
    return zoo_policy.env_id, zoo_policy.torch_policy()
