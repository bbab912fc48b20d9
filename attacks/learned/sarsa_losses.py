"""Robust Sarsa's maths: SARSA TD targets, interval (IBP) bounds of the critic over an input
ball, and the robustness regulariser (SA-PPO appendix; the reference's ``agent.py``
``sarsa_steps``). Pure functions of tensors and a :class:`~advrl.attacks.learned.qnet_format.
QNetwork`, no RL plumbing; unit-tested against hand computations.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch as th
import torch.nn.functional as F

from advrl.attacks.learned.qnet_format import QNetwork
from advrl.types import Norm


def td_targets(
    reward: th.Tensor, q_next: th.Tensor, terminal: th.Tensor, gamma: float
) -> th.Tensor:
    """SARSA targets ``r + gamma (1 - terminal) Q(s', a')``, shape (batch,), no gradient."""
    return (reward + gamma * (1.0 - terminal.to(reward.dtype)) * q_next).detach()


def interval_bounds(
    q_net: QNetwork, inputs: th.Tensor, eps: float | th.Tensor, norm: Norm
) -> tuple[th.Tensor, th.Tensor]:
    """IBP bounds ``(lb, ub)``, shape (batch,), of the critic over the ``eps``-ball around
    each row of ``inputs`` (Gowal et al. 2018). The first layer is bounded exactly by the dual
    norm of its rows; later layers propagate boxes; activations are monotone."""
    layers = list(q_net.q)
    first = layers[0]
    dual = 1 if norm == "linf" else 2  # |w . delta| <= eps * |w|_dual over the ball
    centre = F.linear(inputs, first.weight, first.bias)
    radius = eps * first.weight.norm(p=dual, dim=1)
    lower, upper = centre - radius, centre + radius
    for layer in layers[1:]:
        if isinstance(layer, th.nn.Linear):
            centre, radius = (upper + lower) / 2, (upper - lower) / 2
            centre, radius = layer(centre), radius @ layer.weight.abs().T
            lower, upper = centre - radius, centre + radius
        else:
            lower, upper = layer(lower), layer(upper)
    return lower.squeeze(-1), upper.squeeze(-1)


def robust_regulariser(
    q_net: QNetwork, inputs: th.Tensor, q: th.Tensor, eps: float, norm: Norm
) -> th.Tensor:
    """``mean(max(ub - Q, Q - lb)^2)``: how far Q can move over the ball (before the
    ``sarsa_reg`` factor; ``agent.py`` ``sarsa_steps``)."""
    lower, upper = interval_bounds(q_net, inputs, eps, norm)
    diff = th.maximum(upper - q, q - lower)
    return (diff * diff).mean()


@dataclass
class Transitions:
    """On-policy transitions, flat (N, ...): ``(s, a, r, s', a')`` with the episode flags.

    Example:
        >>> z, flags = th.zeros(4, 2), th.zeros(4, dtype=th.bool)
        >>> batch = Transitions(z, z, th.arange(4.0), z, z, flags, flags)
        >>> batch[th.tensor([3, 1])].reward.tolist(), len(batch)
        ([3.0, 1.0], 4)
    """

    obs: th.Tensor
    action: th.Tensor
    reward: th.Tensor
    next_obs: th.Tensor
    next_action: th.Tensor
    terminated: th.Tensor
    done: th.Tensor
    """Terminated or truncated (the reference's ``not_dones``)."""

    def __getitem__(self, idx: th.Tensor) -> Transitions:
        return Transitions(*(getattr(self, f.name)[idx] for f in fields(self)))

    def __len__(self) -> int:
        return self.reward.shape[0]


def sarsa_losses(
    q_net: QNetwork, batch: Transitions, *, gamma: float, reg_eps: float, norm: Norm,
    td_pairs: str = "transition",
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:  # fmt: skip
    """``(td_loss, regulariser, q)`` on one minibatch (the regulariser without its factor;
    zero while ``reg_eps`` is 0)."""
    inputs = q_net.inputs(batch.obs, batch.action)
    q = q_net.q(inputs).squeeze(-1)
    if td_pairs == "transition":
        with th.no_grad():
            q_next = q_net(batch.next_obs, batch.next_action)
        td_loss = F.smooth_l1_loss(q, td_targets(batch.reward, q_next, batch.terminated, gamma))
    else:  # the reference: the next *row* of the (shuffled) minibatch
        target = td_targets(batch.reward[:-1], q[1:], batch.done[:-1], gamma)
        td_loss = F.smooth_l1_loss(q[:-1], target)
    reg = robust_regulariser(q_net, inputs, q, reg_eps, norm) if reg_eps > 0 else q.new_zeros(())
    return td_loss, reg, q
