"""The SA-PPO state-adversarial regulariser (Zhang et al. 2020, "Robust Deep RL against
Adversarial Perturbations on State Observations", `huanzhang12/ATLA_robust_RL`).

For a diagonal Gaussian policy with mean ``mu`` and std ``sigma`` the regulariser is

    R(s) = max_{s~ in B_inf(s, eps)}  sum_j ((mu_j(s~) - mu_j(s)) / sigma_j)^2,

twice the KL between the action distributions at ``s`` and ``s~`` when they share ``sigma``
(the reference keeps this form and calls it the KL). The inner max is taken by SGLD as in the
reference's ``get_state_kl_bound_sgld``: start at a random vertex of the first step's box,
then ``steps`` signed steps of ``eps / steps`` on the gradient plus Gaussian noise of scale
``sqrt(2 * step * beta) / (k + 2)`` (``beta = 1e-5``: almost plain PGD), clipped to the ball.
Pure functions, no RL plumbing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch as th

SGLD_BETA = 1e-5
"""The reference's inverse temperature of the SGLD noise ("gradients are relatively small")."""


def sgld_max_state_kl(
    mean_fn: Callable[[th.Tensor], th.Tensor],
    obs: th.Tensor,
    std: th.Tensor,
    eps: float,
    steps: int = 10,
    generator: th.Generator | None = None,
) -> th.Tensor:
    """``R(s)`` per sample, shape (batch,), differentiable in ``mean_fn``'s parameters.

    Args:
        mean_fn: the policy mean, ``(batch, obs_dim) -> (batch, act_dim)``.
        obs: clean observations, shape (batch, obs_dim), in the policy's input space.
        std: action std, shape (act_dim,) or (batch, act_dim); gradients flow through it
            (the reference does not detach it by default).
        eps: l_inf radius, >= 0 (0 gives zeros).
        steps: SGLD steps (the reference uses 10).
        generator: source of the noise.
    """
    if eps == 0.0:
        return th.zeros(obs.shape[0], dtype=obs.dtype, device=obs.device)
    obs = obs.detach()
    with th.no_grad():
        clean_mean = mean_fn(obs)
    step = eps / steps
    noise_scale = math.sqrt(2.0 * step * SGLD_BETA)
    lower, upper = obs - eps, obs + eps

    def randn() -> th.Tensor:
        device = generator.device if generator is not None else th.device("cpu")
        return th.randn(obs.shape, generator=generator, device=device).to(obs)

    x = obs + th.sign(randn()) * step
    detached_std = std.detach()
    for k in range(steps):
        x = x.detach().requires_grad_(True)
        with th.enable_grad():
            diff = (mean_fn(x) - clean_mean) / detached_std
            (grad,) = th.autograd.grad((diff * diff).sum(dim=-1).mean(), x)
        noisy = grad + noise_scale / (k + 2) * randn()
        x = th.minimum(th.maximum(x.detach() + th.sign(noisy) * step, lower), upper)
    diff = (mean_fn(x.detach()) - clean_mean) / std
    return (diff * diff).sum(dim=-1)


def ramped_eps(eps: float, progress: float, ramp: float) -> float:
    """Linear ramp from 0 to ``eps`` over the first ``ramp`` fraction of training (the
    reference's ``robust_ppo_eps_scheduler_opts: start=1,length=732`` of 976 iterations is
    ``ramp = 0.75``); ``progress`` in [0, 1]."""
    if ramp <= 0:
        return eps
    return eps * min(1.0, max(0.0, progress) / ramp)
