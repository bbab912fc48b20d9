"""BARFI's behaviour-alignment reward and learned discount (Gupta et al., NeurIPS 2023, Sec. 3).

``r_phi(s, a) = phi1(s) + phi2(s) * r_p(s, a) + phi3(s) * r_aux(s, a)`` with each ``phi_i``
linear over bounded state features ``f(s) = tanh(s / obs_scale)``, and a learned discount
``gamma_phi = sigmoid(w)``, ``w0 = 4.6`` (``gamma ~= 0.990``). The reward starts at the
designer's naive combination ``r_p + r_aux`` (``phi = (0, 1, 1)``), so BARFI begins where
naive reward shaping does and only moves away when the primary return says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch as th
from torch import nn


def _finite_nonneg(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class AlignmentReward(nn.Module):
    """``r_phi`` and ``gamma_phi`` with L2 penalties (the outer parameters of BARFI).

    The penalty is ``l2_phi * ||phi - phi_0||^2 + l2_gamma * (gamma_phi - gamma_0)^2``: the
    paper puts L2 penalties on phi and gamma_phi; we centre them at the initial values
    (``r_p + r_aux``, ``gamma_0 = sigmoid(w0)``) so that the penalty keeps the learned reward
    near the designer's and never pulls the primary weight ``phi2`` towards zero.

    Args:
        obs_dim: length of the (flat) observation.
        obs_scale: divides the observation before ``tanh``; scalar or shape ``(obs_dim,)``.
        init: initial ``(phi1, phi2, phi3)`` (state-independent parts).
        w0: initial discount logit; ``gamma_phi = sigmoid(w)``.
        l2_phi: weight of the penalty on ``phi`` (>= 0).
        l2_gamma: weight of the penalty on ``gamma_phi`` (>= 0).
        device: torch device of the parameters.

    Example:
        >>> r = AlignmentReward(obs_dim=2)
        >>> obs = th.zeros(3, 2)
        >>> r(obs, th.ones(3), th.tensor([0.0, 1.0, 2.0]))  # r_p + r_aux at init
        tensor([1., 2., 3.], grad_fn=<AddBackward0>)
        >>> round(r.gamma.item(), 4)
        0.99
    """

    def __init__(
        self,
        obs_dim: int,
        obs_scale: float | Sequence[float] = 1.0,
        init: Sequence[float] = (0.0, 1.0, 1.0),
        w0: float = 4.6,
        l2_phi: float = 0.0,
        l2_gamma: float = 0.0,
        device: th.device | str = "cpu",
    ) -> None:
        super().__init__()
        if isinstance(obs_dim, bool) or not isinstance(obs_dim, int) or obs_dim < 1:
            raise ValueError(f"obs_dim must be an int >= 1, got {obs_dim!r}")
        init = tuple(float(x) for x in init)
        if len(init) != 3:
            raise ValueError(f"init must be (phi1, phi2, phi3), got {init!r}")
        scale = th.as_tensor(obs_scale, dtype=th.float32).reshape(-1)
        if scale.numel() not in (1, obs_dim) or not bool((scale > 0).all()):
            raise ValueError(
                f"obs_scale must be > 0, a scalar or {obs_dim} values, got {obs_scale!r}"
            )
        if not math.isfinite(w0):
            raise ValueError(f"w0 must be finite, got {w0!r}")
        self.obs_dim = obs_dim
        self.l2_phi = _finite_nonneg("l2_phi", l2_phi)
        self.l2_gamma = _finite_nonneg("l2_gamma", l2_gamma)
        self.weight = nn.Parameter(th.zeros(3, obs_dim, device=device))
        self.bias = nn.Parameter(th.tensor(init, device=device))
        self.w = nn.Parameter(th.tensor(float(w0), device=device))
        self.register_buffer("obs_scale", scale.expand(obs_dim).clone().to(device))
        self.register_buffer("bias0", th.tensor(init, device=device))
        self.register_buffer("w0", th.tensor(float(w0), device=device))

    @property
    def gamma(self) -> th.Tensor:
        """The learned discount ``sigmoid(w)`` (a differentiable scalar)."""
        return th.sigmoid(self.w)

    def features(self, obs: th.Tensor) -> th.Tensor:
        """``tanh(obs / obs_scale)``; obs: shape ``(..., obs_dim)``."""
        if obs.shape[-1:] != (self.obs_dim,):
            raise ValueError(f"obs must have shape (..., {self.obs_dim}), got {tuple(obs.shape)}")
        return th.tanh(obs / self.obs_scale)

    def phi(self, obs: th.Tensor) -> th.Tensor:
        """``(phi1, phi2, phi3)(s)``; obs: shape ``(..., obs_dim)`` -> shape ``(..., 3)``."""
        return self.features(obs) @ self.weight.T + self.bias

    def forward(self, obs: th.Tensor, r_p: th.Tensor, r_aux: th.Tensor) -> th.Tensor:
        """``r_phi``; obs: shape ``(..., obs_dim)``, r_p and r_aux: shape ``(...)``."""
        if r_p.shape != obs.shape[:-1] or r_aux.shape != obs.shape[:-1]:
            raise ValueError(
                f"r_p {tuple(r_p.shape)} and r_aux {tuple(r_aux.shape)} must both have the "
                f"batch shape of obs {tuple(obs.shape[:-1])}"
            )
        p = self.phi(obs)
        return p[..., 0] + p[..., 1] * r_p + p[..., 2] * r_aux

    def penalty(self) -> th.Tensor:
        """``l2_phi * ||phi - phi_0||^2 + l2_gamma * (gamma - gamma_0)^2`` (a scalar)."""
        phi_sq = self.weight.pow(2).sum() + (self.bias - self.bias0).pow(2).sum()
        gamma_sq = (self.gamma - th.sigmoid(self.w0)).pow(2)
        return self.l2_phi * phi_sq + self.l2_gamma * gamma_sq
