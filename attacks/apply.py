"""Apply an attack to a batch of raw env observations (shared by both wrappers)."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch as th
from advrl.attacks.balls import sample_norm

from advrl.policies import RawInputPolicy
from advrl.types import AttackSpace, ObservationAttack, TorchPolicy

SPACES: tuple[AttackSpace, ...] = ("normalized", "raw")


def check_space(space: str) -> AttackSpace:
    if space not in SPACES:
        raise ValueError(f"unknown attack space {space!r}; allowed: {list(SPACES)}")
    return space  # type: ignore[return-value]  # narrowed by the check above


def victim_view(policy: TorchPolicy, space: AttackSpace) -> TorchPolicy:
    """The policy as the attack sees it: normalised inputs, or raw ones."""
    return RawInputPolicy(policy) if space == "raw" else policy


@dataclass(frozen=True)
class AttackedBatch:
    obs: np.ndarray
    """Perturbed raw observations, same shape and dtype as the clean ones."""
    norms: np.ndarray
    """Perturbation size per sample in the attack's space and norm, shape (batch,)."""


def attack_raw_batch(
    raw_obs: np.ndarray,
    attack: ObservationAttack,
    policy: TorchPolicy,
    generator: th.Generator | None,
    obs_space: gym.spaces.Box,
    space: AttackSpace = "normalized",
) -> AttackedBatch:
    """Perturb raw env observations in ``space`` and hand raw observations back.

    The perturbation found in the policy's input space is mapped back to the raw space and
    added to the untouched clean observation (so clean coordinates keep full precision),
    then clipped to the observation space's bounds so the env contract holds.

    Args:
        raw_obs: shape (batch, *obs_shape), as the env emits them.
    """
    if raw_obs.shape[1:] != obs_space.shape:
        raise ValueError(
            f"observation batch has shape {raw_obs.shape}; expected (batch, *{obs_space.shape})"
        )
    if not np.all(np.isfinite(raw_obs)):
        raise ValueError("observation contains NaN or infinite values; cannot attack it")
    raw_t = th.as_tensor(raw_obs, dtype=th.float32, device=policy.device)
    view = victim_view(policy, space)
    clean = view.normalize(raw_t)
    adv = attack(clean, view, generator)
    delta_raw = view.unnormalize(adv) - view.unnormalize(clean)
    perturbed = raw_obs + delta_raw.detach().cpu().numpy().astype(raw_obs.dtype)
    perturbed = np.clip(perturbed, obs_space.low, obs_space.high).astype(raw_obs.dtype)
    # Measure what was actually applied (after clipping to the bounds), in the attack's space.
    final = th.as_tensor(perturbed, dtype=th.float32, device=policy.device)
    applied = view.normalize(final) - clean
    norms = sample_norm(applied, attack.norm).cpu().numpy().astype(np.float64)
    return AttackedBatch(obs=perturbed, norms=norms)
