"""Entry points for the attacked-env ids registered under ``advrl/``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium as gym

from advrl.attacks import GRADIENT_ATTACKS, make_attack
from advrl.attacks.wrappers import PerturbObservation
from advrl.policies import NoVictim
from advrl.types import AttackSpace, ObservationAttack, TorchPolicy


class PerturbObservationByName(PerturbObservation):
    """:class:`~advrl.attacks.PerturbObservation` configured by names: an attack from
    ``advrl.attacks.ATTACKS`` and a victim from the zoo.

    The spec records that configuration (names and numbers, not the attack and policy
    objects), so ``env.spec.to_json()`` works and ``gym.make(EnvSpec.from_json(...))``
    rebuilds the same attack.

    Args:
        env: the task; with a victim, the task it was trained on.
        attack: attack name (``advrl.attacks.ATTACKS``).
        eps: budget; in the victim's normalised space unless ``space="raw"``.
        norm: the budget's norm (``"linf"``, ``"l2"``, ...).
        victim: zoo policy name; required for gradient attacks, optional for noise (without
            one, noise is added in the raw observation space).
        space: ``"normalized"`` or ``"raw"`` (with a victim).
        seed: seed of the attack's generator.
        attack_kwargs: further keyword arguments of the attack's constructor.

    Example:
        >>> import gymnasium as gym
        >>> env = PerturbObservationByName(gym.make("CartPole-v1"), "uniform", eps=0.1)
        >>> _, info = env.reset(seed=0)
        >>> bool(0 < info["attack_norm"] <= 0.1)
        True
        >>> env.spec.additional_wrappers[-1].kwargs["attack"]
        'uniform'
    """

    def __init__(
        self,
        env: gym.Env,
        attack: str = "uniform",
        eps: float = 0.05,
        norm: str = "linf",
        victim: str | None = None,
        space: AttackSpace = "normalized",
        seed: int | None = None,
        attack_kwargs: dict[str, Any] | None = None,
    ) -> None:
        # Recorded first: PerturbObservation's own record (of the objects) is then a no-op.
        gym.utils.RecordConstructorArgs.__init__(
            self, attack=attack, eps=eps, norm=norm, victim=victim, space=space, seed=seed,
            attack_kwargs=attack_kwargs,
        )  # fmt: skip
        # env.unwrapped.spec, not env.spec: a wrapper caches its spec on first access, and the
        # outer gym.make has yet to set this env's id.
        task = getattr(env.unwrapped.spec, "id", None)
        built_attack, policy = named_attack(attack, eps, norm, victim, attack_kwargs, task)
        if policy is None:
            super().__init__(env, built_attack, NoVictim(env.observation_space), "raw", seed)
            return
        super().__init__(env, built_attack, policy, space, seed)


def perturbed_observation_env(
    env_id: str = "CartPole-v1",
    attack: str = "uniform",
    eps: float = 0.05,
    norm: str = "linf",
    victim: str | None = None,
    space: AttackSpace = "normalized",
    seed: int | None = None,
    attack_kwargs: dict[str, Any] | None = None,
    **env_kwargs: Any,
) -> gym.Env:
    """``gym.make("advrl/PerturbedObservation-v0", env_id=..., attack=..., eps=..., victim=...)``:
    ``gym.make(env_id, **env_kwargs)`` under :class:`PerturbObservationByName`."""
    check_env_id(env_id)
    named_attack(attack, eps, norm, victim, attack_kwargs, env_id)  # fails before gym.make
    return PerturbObservationByName(
        gym.make(env_id, **env_kwargs), attack, eps, norm, victim, space, seed, attack_kwargs
    )


def check_env_id(env_id: str) -> None:
    """A ``ValueError`` unless ``env_id`` is registered with Gymnasium."""
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; see gymnasium.registry or `advrl list`")


def named_attack(
    attack: str,
    eps: float,
    norm: str,
    victim: str | None,
    attack_kwargs: dict[str, Any] | None,
    task_id: str | None,
) -> tuple[ObservationAttack, TorchPolicy | None]:
    """The attack named ``attack`` and the zoo ``victim``'s policy (None without a victim),
    checked against the task it will attack (``task_id``; None: not known). The one place
    the by-name entry points (one env, and the vector entry point) resolve their settings;
    it builds no env, so bad settings fail before any is made."""
    built = make_attack(attack, eps, norm, **(attack_kwargs or {}))
    if victim is None:
        if attack in GRADIENT_ATTACKS:
            raise ValueError(f"attack {attack!r} needs a victim: pass victim=<zoo name>")
        return built, None
    victim_env, policy = _zoo_victim(victim)
    if task_id is not None and victim_env != task_id:
        raise ValueError(f"victim {victim!r} was trained on {victim_env}, not {task_id}")
    return built, policy


@lru_cache(maxsize=8)
def _zoo_victim(name: str):
    """Load each zoo victim once: every env of a vector env (and every env rebuilt from a
    spec) shares the same read-only policy."""
    import advrl.zoo

    zoo_policy = advrl.zoo.load(name)
    return zoo_policy.env_id, zoo_policy.torch_policy()
