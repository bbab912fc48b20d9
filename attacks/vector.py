"""Observation attacks on Gymnasium vector envs (``gym.vector.SyncVectorEnv``,
``AsyncVectorEnv``, ``gym.make_vec``): one batched attack call for all envs per step.

Named as in ``gymnasium.wrappers.vector``: the vector wrapper has the single-env wrapper's
name (:class:`advrl.attacks.PerturbObservation`) and lives in this ``vector`` module. The
attack engine (:class:`~advrl.attacks.apply.ObservationAttacker`) is the one the single-env
and SB3 VecEnv wrappers use.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from advrl.attacks.apply import ObservationAttacker
from advrl.types import AttackSpace, ObservationAttack, TorchPolicy
from advrl.vector_observation import VectorTransformObservation, check_vector_env

VECTORIZATIONS = ("sync", "async")


class PerturbObservation(VectorTransformObservation, gym.utils.RecordConstructorArgs):
    """The vector-env version of :class:`advrl.attacks.PerturbObservation`: one batched
    attack for all envs per step.

    Put it *below* any observation normalisation (it emits raw observations). With the same
    seed and one env it produces exactly what the single-env wrapper does, across episode
    ends too, in every autoreset mode. The wrapper runs in the calling process, so under
    ``AsyncVectorEnv`` the envs step in workers and the victim is never copied to them.

    Info keys: ``obs_clean`` and ``attack_norm`` (perturbation size in the attack's space
    and norm) per returned observation. Under ``AutoresetMode.SAME_STEP``, ``final_obs`` is
    perturbed like every observation the victim sees, ``final_obs_clean`` holds the clean
    ones and ``final_info`` gets their ``obs_clean`` and ``attack_norm``.

    Args:
        env: a vector env with Box observations the victim consumes (raw).
        attack: an :class:`~advrl.types.ObservationAttack`, e.g. ``PGD(eps=0.075)``.
        policy: the victim (:func:`advrl.policies.from_sb3`).
        space: ``"normalized"`` (budget in the policy's input space) or ``"raw"``.
        seed: seed of the attack's generator; ``reset(seed=s)`` reseeds it from ``s`` (from
            the first int of a per-env seed list).

    Example:
        >>> import gymnasium as gym, numpy as np, torch as th
        >>> from advrl.attacks import UniformNoise
        >>> from advrl.attacks.vector import PerturbObservation
        >>> from advrl.testing import LinearPolicy
        >>> envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 3)
        >>> envs = PerturbObservation(envs, UniformNoise(0.05),
        ...                           LinearPolicy(th.ones(2, 4), discrete=True))
        >>> obs, info = envs.reset(seed=0)
        >>> obs.shape, bool((info["attack_norm"] <= 0.05).all() and info["_attack_norm"].all())
        ((3, 4), True)
        >>> bool(0 < np.abs(obs - info["obs_clean"]).max() <= 0.05)
        True
    """

    def __init__(
        self,
        env: VectorEnv,
        attack: ObservationAttack,
        policy: TorchPolicy,
        space: AttackSpace = "normalized",
        seed: int | None = None,
    ) -> None:
        check_vector_env(env, "PerturbObservation", "advrl.attacks.VecPerturbObservation")
        gym.utils.RecordConstructorArgs.__init__(
            self, attack=attack, policy=policy, space=space, seed=seed
        )
        self.attacker = ObservationAttacker(
            attack, policy, env.single_observation_space, space, seed
        )
        VectorTransformObservation.__init__(self, env)
        self.attack, self.policy, self.space = attack, policy, space

    def reseed(self, seed: int) -> None:
        self.attacker.reseed(seed)

    def transform(self, obs: np.ndarray, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        batch = self.attacker(obs)
        return batch.obs, {"attack_norm": batch.norms}


def perturbed_observation_vec(
    num_envs: int = 1,
    env_id: str = "CartPole-v1",
    attack: str = "uniform",
    eps: float = 0.05,
    norm: str = "linf",
    victim: str | None = None,
    space: AttackSpace = "normalized",
    seed: int | None = None,
    attack_kwargs: dict[str, Any] | None = None,
    vectorization: str = "sync",
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    **env_kwargs: Any,
) -> PerturbObservation:
    """The ``vector_entry_point`` of ``advrl/PerturbedObservation-v0``: ``num_envs`` copies of
    ``env_id`` under one batched attack (the kwargs of ``perturbed_observation_env``).

    ``gym.make_vec("advrl/PerturbedObservation-v0", n, vectorization_mode="vector_entry_point",
    ...)`` builds it (and so does ``gym.make_vec`` without a mode). ``vectorization``
    (``"sync"`` or ``"async"``) and ``autoreset_mode`` choose the vector env the envs run in.

    Example:
        >>> import gymnasium as gym
        >>> envs = gym.make_vec("advrl/PerturbedObservation-v0", 2,
        ...                     vectorization_mode="vector_entry_point", eps=0.1, seed=0)
        >>> type(envs).__name__, envs.reset(seed=0)[0].shape
        ('PerturbObservation', (2, 4))
    """
    from advrl.attacks.make_env import check_env_id, named_attack
    from advrl.policies import NoVictim

    if vectorization not in VECTORIZATIONS:
        raise ValueError(f"unknown vectorization {vectorization!r}; allowed: {VECTORIZATIONS}")
    check_env_id(env_id)
    built, policy = named_attack(attack, eps, norm, victim, attack_kwargs, env_id)  # no env yet
    envs = gym.make_vec(
        env_id,
        num_envs,
        vectorization_mode=vectorization,
        vector_kwargs={"autoreset_mode": autoreset_mode},
        **env_kwargs,
    )
    if policy is None:
        return PerturbObservation(envs, built, NoVictim(envs.single_observation_space), "raw", seed)
    return PerturbObservation(envs, built, policy, space, seed)
