"""Lipschitz penalties on a critic ``fn(obs, *rest)``: pure maths, no RL plumbing.

- :func:`value_gradient_penalty`: the gradient penalty of :mod:`advrl.agents.lipschitz`
  taken w.r.t. the observation only, at the data or at noisy data.
- :func:`adversarial_value_penalty`: Zheng et al. (ICLR 2023)'s robust regulariser,
  ``mean((fn(s~) - fn(s))^2)`` with ``s~`` the approximate worst point of the l_inf ball
  of radius ``eps`` around ``s`` (projected gradient ascent). The paper's text was not
  at hand when this was written: the squared gap, the l_inf ball and the PGD inner max
  follow its description as a robust (SR^2L / SA-style) regulariser of the critic; its
  step count and radius are this module's defaults (3 steps, ``2.5 eps / steps``), not
  the paper's.
"""

from __future__ import annotations

import math

import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy

from advrl.agents.lipschitz import gradient_norms, gradient_penalty

PENALTIES = ("gradient", "adversarial")
VALUE_SITES = ("data", "policy_noise")  # a critic has no expert points to interpolate with


def check_nonneg(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def value_gradient_penalty(
    fn, obs: th.Tensor, *rest: th.Tensor, target: float = 1.0, one_sided: bool = True,
    site: str = "data", noise_std: float = 10.0, generator: th.Generator | None = None,
) -> th.Tensor:  # fmt: skip
    """``mean(max(0, ||grad_s fn(s, *rest)|| - target)^2)`` (or two-sided), differentiable.

    Args:
        fn: the critic, ``fn(obs, *rest) -> (batch,)`` or ``(batch, 1)``.
        obs: shape ``(batch, *obs_shape)``; the gradient is taken w.r.t. it only.
        rest: further inputs held fixed (the action of a Q critic).
        site: ``"data"`` (at ``obs``) or ``"policy_noise"`` (at ``obs + N(0, noise_std^2)``).

    Example:
        >>> v = lambda s: 3.0 * s.sum(dim=1)  # ||grad V|| = 3 everywhere (one dimension)
        >>> value_gradient_penalty(v, th.zeros(4, 1)).item()  # (3 - 1)^2
        4.0
    """
    if site not in VALUE_SITES:
        raise ValueError(f"unknown value gradient-penalty site {site!r}; allowed: "
                         f"{list(VALUE_SITES)}")  # fmt: skip
    fixed = [r.detach() for r in rest]
    return gradient_penalty(lambda s: fn(s, *fixed), None, obs, target=target,
                            one_sided=one_sided, site=site, noise_std=noise_std,
                            generator=generator)  # fmt: skip


def adversarial_states(
    fn, obs: th.Tensor, *rest: th.Tensor, eps: float, steps: int = 3,
    step_size: float | None = None, generator: th.Generator | None = None,
) -> th.Tensor:  # fmt: skip
    """``s + d``, ``||d||_inf <= eps``, approximately maximising ``(fn(s + d) - fn(s))^2``.

    Projected sign-gradient ascent from a uniform random start in the ball (the start makes
    the first gradient non-zero: at ``d = 0`` the squared difference is flat). ``step_size``
    defaults to ``2.5 * eps / steps`` (Madry et al. 2018). Returned detached.
    """
    eps = check_nonneg(eps, "eps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    step = 2.5 * eps / steps if step_size is None else check_nonneg(step_size, "step_size")
    obs = obs.detach()
    fixed = [r.detach() for r in rest]
    with th.no_grad():
        clean = fn(obs, *fixed).reshape(len(obs))
    noise = th.rand(obs.shape, generator=generator, dtype=obs.dtype).to(obs.device)
    x = obs + eps * (2 * noise - 1)
    for _ in range(steps):
        x.requires_grad_(True)
        with th.enable_grad():
            gap = (fn(x, *fixed).reshape(len(obs)) - clean).pow(2).sum()
            (grad,) = th.autograd.grad(gap, x)
        x = (obs + (x.detach() + step * grad.sign() - obs).clamp(-eps, eps)).detach()
    return x


def adversarial_value_penalty(
    fn, obs: th.Tensor, *rest: th.Tensor, eps: float, steps: int = 3,
    step_size: float | None = None, generator: th.Generator | None = None,
) -> th.Tensor:  # fmt: skip
    """Zheng et al.'s robust regulariser ``mean((fn(s~) - fn(s))^2)``, ``s~`` from
    :func:`adversarial_states`; differentiable in ``fn``'s parameters through both terms.

    Example:
        >>> v = lambda s: 2.0 * s.sum(dim=1)  # the worst d in the ball moves V by 2 * eps
        >>> round(adversarial_value_penalty(v, th.zeros(3, 1), eps=0.5).item(), 4)
        1.0
    """
    adv = adversarial_states(fn, obs, *rest, eps=eps, steps=steps, step_size=step_size,
                             generator=generator)  # fmt: skip
    fixed = [r.detach() for r in rest]
    n = len(obs)
    return (fn(adv, *fixed).reshape(n) - fn(obs.detach(), *fixed).reshape(n)).pow(2).mean()


def value_fn(policy: ActorCriticPolicy):
    """``obs (batch, *obs_shape) -> V(obs) (batch,)`` of an SB3 actor-critic policy."""
    return lambda obs: policy.predict_values(obs).reshape(len(obs))


def check_value_gradient_path(policy: ActorCriticPolicy, obs: th.Tensor) -> None:
    """Raise ValueError if ``V`` has no gradient path to the observation (checked on a
    small probe batch before training, so a penalty fails before any rollout)."""
    gradient_norms(value_fn(policy), [obs], create_graph=False)
