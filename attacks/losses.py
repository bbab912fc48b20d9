"""Attack objectives: per-sample losses the attacker *maximises*, shape (batch,).

Each takes the candidate observations ``x`` and a :class:`Reference` computed once from the
clean batch, so multi-step attacks never recompute the clean forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as th
import torch.nn.functional as F

from advrl.types import TorchPolicy


@dataclass(frozen=True)
class Reference:
    """The victim's clean behaviour on a batch (no gradients)."""

    action: th.Tensor
    """Deterministic action: (batch, act_dim) float, or (batch,) int64 for discrete."""
    logits: th.Tensor | None
    """Discrete: log-probabilities, shape (batch, n_actions)."""
    scale: th.Tensor | None
    """Continuous stochastic: std normalised by its per-sample mean, (batch, act_dim)."""

    @classmethod
    def of(cls, policy: TorchPolicy, obs: th.Tensor) -> Reference:
        with th.no_grad():
            logits = policy.action_logits(obs)
            std = policy.action_std(obs)
            scale = None if std is None else std / std.mean(dim=-1, keepdim=True)
            return cls(
                action=policy.action(obs),
                logits=None if logits is None else F.log_softmax(logits, dim=-1),
                scale=scale,
            )


def action_deviation(policy: TorchPolicy, x: th.Tensor, ref: Reference) -> th.Tensor:
    """Push the victim off its clean action (Huang et al. 2017; SA-PPO PGD).

    Discrete: cross-entropy of the clean greedy action. Continuous: squared l_2 distance
    between the perturbed and clean deterministic actions.
    """
    if ref.logits is not None:
        return F.cross_entropy(policy.action_logits(x), ref.action, reduction="none")
    return (policy.action(x) - ref.action).pow(2).sum(dim=-1)


def mad_divergence(policy: TorchPolicy, x: th.Tensor, ref: Reference) -> th.Tensor:
    """Maximal action difference (SA-PPO, Zhang et al. 2020, Sec. 6).

    Continuous: ``sum_i ((mu(x) - mu(s)) / sigma_i)^2`` with sigma the policy std divided by
    its mean (1 for deterministic actors). Discrete: ``KL(pi(.|s) || pi(.|x))``.
    """
    if ref.logits is not None:
        log_p = F.log_softmax(policy.action_logits(x), dim=-1)
        return (ref.logits.exp() * (ref.logits - log_p)).sum(dim=-1)
    diff = policy.action(x) - ref.action
    if ref.scale is not None:
        diff = diff / ref.scale
    return diff.pow(2).sum(dim=-1)


def negative_value(policy: TorchPolicy, x: th.Tensor, ref: Reference) -> th.Tensor:
    """The critic attack: minimise the victim's own value estimate."""
    value = policy.value(x)
    if value is None:
        raise ValueError("the critic attack needs a policy with a value estimate (value() is None)")
    return -value


def targeted_log_prob(target: th.Tensor):
    """Targeted attack objective: the log-probability of ``target`` actions (batch,)."""

    def loss(policy: TorchPolicy, x: th.Tensor, ref: Reference) -> th.Tensor:
        return -F.cross_entropy(policy.action_logits(x), target, reduction="none")

    return loss
