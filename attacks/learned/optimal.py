"""The "optimal" attack: a learned RL adversary whose action is the perturbation.

Zhang et al. 2021 ("Robust Reinforcement Learning on State Observations with Learned
Optimal Adversary", `huanzhang12/ATLA_robust_RL`). :func:`train_optimal_attack` trains an
SB3 PPO adversary on :class:`~advrl.attacks.learned.adversary_env.ObservationAdversaryEnv`;
:class:`OptimalAttack` runs it as a pure batched attack, so it goes through the same
wrappers, evaluation and bench cells as the gradient attacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy

from advrl.attacks.balls import project
from advrl.attacks.base import Attack, check_bool
from advrl.attacks.learned.artifacts import (
    AdversaryCard,
    load_sb3_adversary,
    save_sb3_adversary,
)
from advrl.attacks.learned.victims import victim_digest
from advrl.types import Norm, TorchPolicy
from advrl.zoo.train import PPO_MUJOCO

ENV_ID = "advrl/ObservationAdversary-v0"

PPO_ADVERSARY: dict[str, Any] = dict(PPO_MUJOCO)
"""The zoo victims' PPO settings (the reference tunes the adversary's per env: a 216-point
scan; pass overrides, e.g. ``learning_rate=1e-3`` as its Walker2d config)."""


def adversary_mean(policy: ActorCriticPolicy, obs: th.Tensor) -> th.Tensor:
    """The Gaussian mean of an SB3 actor-critic policy (no Distribution object built)."""
    features = policy.extract_features(obs, policy.pi_features_extractor)
    return policy.action_net(policy.mlp_extractor.forward_actor(features))


class OptimalAttack(Attack):
    """Perturb with a trained adversary: ``delta = eps * clip(adversary(obs), -1, 1)``.

    Args:
        eps: the budget the adversary was trained for. norm: ``"linf"`` or ``"l2"``.
        adversary: the adversary's SB3 policy (``model.policy``; see
            :func:`train_optimal_attack` / :func:`load_optimal_attack`).
        deterministic: use the adversary's mean action (default); False samples it with the
            generator, as during training.

    Example:
        >>> adversary = train_optimal_attack("ppo-cartpole", eps=0.5, steps=64, n_envs=1,
        ...     n_steps=64, batch_size=64)
        >>> from advrl.testing import LinearPolicy
        >>> attack = OptimalAttack(0.5, adversary=adversary.policy)
        >>> adv = attack(th.zeros(3, 4), LinearPolicy(th.ones(2, 4), discrete=True))
        >>> bool(adv.abs().max() <= 0.5)
        True
    """

    name = "optimal"
    needs_gradients = False

    def __init__(
        self,
        eps: float,
        norm: Norm = "linf",
        *,
        adversary: ActorCriticPolicy,
        deterministic: bool = True,
    ) -> None:
        super().__init__(eps, norm)
        if isinstance(adversary, BaseAlgorithm):
            adversary = adversary.policy
        if not isinstance(adversary, ActorCriticPolicy):
            raise TypeError(
                f"adversary must be an SB3 actor-critic policy (load one with "
                f"load_optimal_attack), got {type(adversary).__name__}"
            )
        self.adversary = adversary
        self.deterministic = check_bool(deterministic, "deterministic")

    def __repr__(self) -> str:
        return f"OptimalAttack(eps={self.eps}, norm={self.norm!r})"

    def perturb(self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None):
        device = self.adversary.device
        with th.no_grad():
            action = adversary_mean(self.adversary, obs.to(device, th.float32))
            if not self.deterministic:
                std = self.adversary.log_std.exp()
                noise = th.randn(action.shape, generator=generator, device=generator.device
                                 if generator is not None else "cpu")  # fmt: skip
                action = action + std * noise.to(device)
        delta = self.eps * action.clamp(-1.0, 1.0).to(obs.device, obs.dtype)
        delta = delta.reshape(obs.shape)
        return obs + (delta if self.norm == "linf" else project(delta, self.eps, self.norm))


class TrainedAdversary:
    """An adversary's policy and its card; ``model`` is the SB3 learner when just trained."""

    def __init__(
        self, policy: ActorCriticPolicy, card: AdversaryCard, model: BaseAlgorithm | None = None
    ) -> None:
        self.policy, self.card, self.model = policy, card, model

    def attack(self, deterministic: bool = True) -> OptimalAttack:
        return OptimalAttack(self.card.eps, self.card.norm, adversary=self.policy,
                             deterministic=deterministic)  # fmt: skip

    def save(self, path: str | Path, command: str = "") -> Path:
        return save_sb3_adversary(path, self.policy, self.card, command=command)


def train_optimal_attack(
    victim: str,
    eps: float,
    steps: int,
    *,
    norm: Norm = "linf",
    seed: int = 0,
    n_envs: int = 8,
    device: str = "cpu",
    victim_deterministic: bool = False,
    **ppo_kwargs: Any,
) -> TrainedAdversary:
    """Train a PPO adversary against a frozen victim (zoo name or zoo-format file).

    ``ppo_kwargs`` override :data:`PPO_ADVERSARY`. Rewards are normalised (as the
    reference's ``norm_rewards: returns``); observations are already the victim's
    normalised ones.
    """
    from advrl.attacks.learned.adversary_env import ObservationAdversaryEnv
    from advrl.attacks.learned.ppo_adversary import train_ppo_adversary

    env_kwargs = dict(victim=victim, eps=float(eps), norm=norm, victim_digest=victim_digest(victim),
                      victim_deterministic=victim_deterministic)  # fmt: skip
    model, card = train_ppo_adversary(
        "optimal", ObservationAdversaryEnv, env_kwargs, steps, seed=seed, n_envs=n_envs,
        device=device, hparams={**PPO_ADVERSARY, **ppo_kwargs},
    )  # fmt: skip
    return TrainedAdversary(model.policy, card, model)


def load_optimal_attack(
    path: str | Path,
    *,
    victim: str | None = None,
    eps: float | None = None,
    norm: Norm | None = None,
    device: str = "cpu",
) -> TrainedAdversary:
    """Load a saved optimal-attack adversary (weights only; safe for untrusted files).

    ``victim`` / ``eps`` / ``norm``: what it will attack; a file trained for another victim
    or budget is refused with both named.
    """
    policy, card = load_sb3_adversary(path, kind="optimal", victim=victim, eps=eps, norm=norm,
                                      device=device)  # fmt: skip
    return TrainedAdversary(policy, card)


def load_attack(
    path: str | Path,
    *,
    attack: str = "optimal",
    victim: str | None = None,
    eps: float | None = None,
    norm: Norm | None = None,
    device: str = "cpu",
) -> OptimalAttack:
    """The registry's loader (:mod:`advrl.attacks.learned.registry`)."""
    if attack != "optimal":
        raise ValueError(f"an optimal-attack adversary runs the 'optimal' attack, not {attack!r}")
    return load_optimal_attack(path, victim=victim, eps=eps, norm=norm, device=device).attack()
