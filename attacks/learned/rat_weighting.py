"""RAT's weighting function and its bi-level update, as small pure functions.

Bai et al. 2025 ("RAT: Adversarial Attacks on Deep Reinforcement Agents for Targeted
Behaviors", `ChangWinde/RAT`) train the observation adversary on a *weighted* closeness loss
between the victim's action on the perturbed state and the intention policy's action on the
clean state. The weights ``w_phi(s) = 1 + tanh(f_phi(s))`` (in ``(0, 2)``) come from a small
MLP that is itself trained in an outer loop: one inner gradient step of the adversary on the
weighted loss, ``theta' = theta - lr * grad_theta mean_i w_i l_i(theta)``, should lower an
outer loss ``L_out(theta')``. To first order (Ren et al. 2018, "Learning to Reweight"),

    dL_out(theta') / dw_i = -lr / B * <grad_theta L_out(theta), grad_theta l_i(theta)>,

so the weighting net descends ``sum_i h_i w_phi(s_i)`` with ``h_i`` that per-sample
alignment. The reference uses one batch-level product times the mean weight; here each state
gets its own ``h_i`` (two extra backward passes via the double-backward trick), which is the
derivative the batch version approximates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch as th
from torch import nn


def closeness(victim_action: th.Tensor, intention_action: th.Tensor) -> th.Tensor:
    """Minus the squared distance of two action batches, shape ``(batch,)``.

    RAT's inner loss is ``KL(N(mu_victim, 1) || pi_intention)``; for a fixed intention std
    that is this squared distance up to a per-dimension scale and a constant.
    """
    if victim_action.shape != intention_action.shape:
        raise ValueError(
            f"victim and intention actions differ in shape: {tuple(victim_action.shape)} vs "
            f"{tuple(intention_action.shape)}"
        )
    return -(victim_action - intention_action).pow(2).sum(dim=-1)


class Weighting(nn.Module):
    """State weights ``w(s) = 1 + tanh(mlp(s))`` in ``(0, 2)``, as the reference's controller.

    Args:
        obs_dim: observation size. hidden: hidden layer sizes (default two of 64).
        lr: Adam step size of its bi-level update (the reference's 1e-3).

    Example:
        >>> w = Weighting(3, hidden=(4,))
        >>> out = w(th.zeros(5, 3))
        >>> out.shape, bool(((out > 0) & (out < 2)).all())
        (torch.Size([5]), True)
    """

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64, 64), lr: float = 1e-3) -> None:
        super().__init__()
        if not isinstance(obs_dim, int) or obs_dim < 1:
            raise ValueError(f"obs_dim must be an int >= 1, got {obs_dim!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        sizes = [obs_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))
        self.hidden = tuple(int(h) for h in hidden)
        self.optimizer = th.optim.Adam(self.parameters(), lr=lr)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        """``obs``: shape (batch, obs_dim) -> weights, shape (batch,)."""
        return 1.0 + th.tanh(self.net(obs.float())).squeeze(-1)


def alignment(
    inner_losses: th.Tensor, outer_loss: th.Tensor, params: Sequence[th.Tensor], lr: float
) -> th.Tensor:
    """The per-sample meta-gradient ``h_i = -lr / B * <grad L_out, grad l_i>``, shape (B,).

    Args:
        inner_losses: per-sample inner losses ``l_i(theta)``, shape (B,), with a graph to
            ``params``.
        outer_loss: scalar ``L_out(theta)`` with a graph to ``params``.
        params: the adversary's parameters ``theta``.
        lr: the adversary's step size in the one-step look-ahead.

    ``<grad l_i, v>`` for all ``i`` at once: differentiate ``<grad_theta mean_j u_j l_j, v>``
    with respect to the dummy weights ``u`` at ``u = 1``.
    """
    params = list(params)
    outer_grads = th.autograd.grad(outer_loss, params, retain_graph=True, allow_unused=True)
    u = th.ones_like(inner_losses, requires_grad=True)
    inner_grads = th.autograd.grad(
        (u * inner_losses).mean(), params, create_graph=True, allow_unused=True
    )
    dot = sum(
        (gi * go.detach()).sum()
        for gi, go in zip(inner_grads, outer_grads, strict=True)
        if gi is not None and go is not None
    )
    if not isinstance(dot, th.Tensor) or not dot.requires_grad:
        return th.zeros_like(inner_losses).detach()
    (per_sample,) = th.autograd.grad(dot, u)
    return -lr * per_sample.detach()


def weighting_step(weighting: Weighting, states: th.Tensor, h: th.Tensor) -> float:
    """One Adam step of the weighting net on ``sum_i h_i w(s_i)``; returns that loss."""
    if h.shape != (states.shape[0],):
        raise ValueError(f"h must have shape ({states.shape[0]},), got {tuple(h.shape)}")
    loss = (h.detach() * weighting(states)).sum()
    weighting.optimizer.zero_grad()
    loss.backward()
    weighting.optimizer.step()
    return float(loss.detach())
