"""Lipschitz regularisation of scoring nets: gradient penalties, spectral norm, estimates.

Pure maths on a scoring function ``fn(*parts) -> scores`` (a discriminator on
``(obs, action)``, a reward net, a critic): nothing here knows about RL.

- :func:`gradient_penalty`: ``mean(max(0, ||grad fn(x^)|| - k)^2)`` (one-sided, the default
  of Blonde, Strasser & Kalousis 2022, "Lipschitzness Is All You Need To Tame Off-policy
  Generative Adversarial Imitation Learning") or ``mean((||grad fn(x^)|| - k)^2)``
  (two-sided, WGAN-GP; Gulrajani et al. 2017), taken at points ``x^`` chosen by ``site``.
- :func:`spectral_normalize`: spectral normalisation of every linear layer (Miyato et al.
  2018), so each layer, and with 1-Lipschitz activations the whole net, is 1-Lipschitz.
- :func:`local_lipschitz`: a local Lipschitz estimate, the largest input-gradient norm over
  sampled inputs, for training logs.

The sites follow the reference code (``lionelblonde/liayn-pytorch``, ``SAMAgent.grad_pen``):

============== ======================= ========================================================
site           reference name          points
============== ======================= ========================================================
interpolates   ``wgan`` (its default)  ``u x_E + (1 - u) x_pi``, ``u ~ U(0, 1)`` drawn per
                                       sample *and per input part*, as the reference does
expert_noise   ``dragan``              ``x_E + N(0, noise_std^2)``
policy_noise   ``nagard``              ``x_pi + N(0, noise_std^2)``
data           ``bare``                the given (policy) points themselves
============== ======================= ========================================================

The reference's defaults are ``target=1``, one-sided, scale 10 (the scale multiplies the
penalty in the caller's loss) and ``noise_std=10`` for the noisy sites.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch as th
from torch import nn

SITES = ("interpolates", "expert_noise", "policy_noise", "data")

ScoreFn = Callable[..., th.Tensor]
Parts = th.Tensor | Sequence[th.Tensor]


def _as_parts(x: Parts, name: str) -> list[th.Tensor]:
    parts = [x] if isinstance(x, th.Tensor) else list(x)
    if not parts or not all(isinstance(p, th.Tensor) for p in parts):
        raise TypeError(f"{name} must be a tensor or a non-empty sequence of tensors, got {x!r}")
    batch = parts[0].shape[0] if parts[0].dim() else None
    if batch is None or any(p.dim() == 0 or p.shape[0] != batch for p in parts):
        shapes = [tuple(p.shape) for p in parts]
        raise ValueError(f"{name}'s parts must share a leading batch dimension, got {shapes}")
    return parts


def penalty_points(
    site: str,
    expert: Parts | None,
    policy: Parts,
    *,
    noise_std: float = 10.0,
    generator: th.Generator | None = None,
) -> list[th.Tensor]:
    """The points ``x^`` a gradient penalty is taken at (detached, one tensor per part).

    Args:
        site: one of :data:`SITES`.
        expert: expert parts, e.g. ``(obs, action)``, each of shape ``(batch, ...)``; needed
            by ``interpolates`` and ``expert_noise``.
        policy: the learner's parts, same structure as ``expert``.
        noise_std: standard deviation of the noisy sites' Gaussian.
        generator: randomness of the interpolation weights and the noise.
    """
    if site not in SITES:
        raise ValueError(f"unknown gradient-penalty site {site!r}; allowed: {list(SITES)}")
    if not (math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a finite number >= 0, got {noise_std!r}")
    pi = [p.detach() for p in _as_parts(policy, "policy")]
    if site in ("policy_noise", "data"):
        base = pi
    else:
        if expert is None:
            raise ValueError(f"site {site!r} needs expert points; got expert=None")
        ex = [e.detach() for e in _as_parts(expert, "expert")]
        if [tuple(e.shape) for e in ex] != [tuple(p.shape) for p in pi]:
            raise ValueError(
                f"expert and policy parts must have equal shapes for site {site!r}, got "
                f"{[tuple(e.shape) for e in ex]} and {[tuple(p.shape) for p in pi]}"
            )
        base = ex
    if site == "data":
        return [p.clone() for p in base]
    if site == "interpolates":
        points = []
        for e, p in zip(base, pi, strict=True):
            u = th.rand((e.shape[0],) + (1,) * (e.dim() - 1), generator=generator,
                        device=e.device, dtype=e.dtype)  # fmt: skip
            points.append(u * p + (1 - u) * e)  # the reference's eps * x_pi + (1 - eps) * x_E
        return points
    return [
        b + noise_std * th.randn(b.shape, generator=generator, device=b.device, dtype=b.dtype)
        for b in base
    ]


def gradient_norms(fn: ScoreFn, points: Sequence[th.Tensor], create_graph: bool) -> th.Tensor:
    """``||grad_x fn(x)||_2`` per sample, over all parts concatenated, shape ``(batch,)``.

    Raises:
        ValueError: ``fn``'s output has no gradient path to its inputs (a constant, a
            detached output, or a net that ignores every part).
    """
    xs = [p.detach().requires_grad_(True) for p in points]
    with th.enable_grad():
        scores = fn(*xs)
        if not isinstance(scores, th.Tensor) or not scores.requires_grad:
            raise ValueError(
                "the scoring function's output has no gradient path to its inputs "
                "(detached, computed under no_grad, or constant); a gradient penalty needs one"
            )
        grads = th.autograd.grad(scores.sum(), xs, create_graph=create_graph, allow_unused=True)
    if all(g is None for g in grads):
        raise ValueError("the scoring function ignores every input part; nothing to penalise")
    flat = [(g if g is not None else th.zeros_like(x)).reshape(len(x), -1)
            for g, x in zip(grads, xs, strict=True)]  # fmt: skip
    return th.cat(flat, dim=1).norm(dim=1)


def gradient_penalty(
    fn: ScoreFn,
    expert: Parts | None,
    policy: Parts,
    *,
    target: float = 1.0,
    one_sided: bool = True,
    site: str = "interpolates",
    noise_std: float = 10.0,
    generator: th.Generator | None = None,
) -> th.Tensor:
    """The gradient penalty, a differentiable scalar (multiply by its scale in the loss).

    Args:
        fn: scores of a batch, ``fn(*parts) -> (batch,)`` or ``(batch, 1)``.
        expert, policy: the parts of the two distributions (see :func:`penalty_points`).
        target: the Lipschitz constant ``k`` aimed at.
        one_sided: penalise only norms above ``k`` (Blonde et al.'s default) instead of any
            deviation from ``k`` (WGAN-GP).
        site, noise_std, generator: where the penalty is taken, see :func:`penalty_points`.

    Example:
        >>> f = lambda x: 3.0 * x.sum(dim=1)  # gradient norm 3 * sqrt(2) everywhere
        >>> x = th.zeros(4, 2)
        >>> round(gradient_penalty(f, x, x).item(), 4)  # (3 sqrt 2 - 1)^2
        10.5147
    """
    if not (math.isfinite(target) and target >= 0):
        raise ValueError(f"target must be a finite number >= 0, got {target!r}")
    points = penalty_points(site, expert, policy, noise_std=noise_std, generator=generator)
    excess = gradient_norms(fn, points, create_graph=True) - target
    return (excess.clamp(min=0) if one_sided else excess).pow(2).mean()


def local_lipschitz(fn: ScoreFn, inputs: Parts) -> float:
    """Largest input-gradient norm of ``fn`` over a batch: a local Lipschitz estimate.

    A lower bound on ``fn``'s Lipschitz constant over the region the batch covers; log it
    during training to see a penalty or spectral norm at work.

    Example:
        >>> local_lipschitz(lambda x: (x ** 2).sum(dim=1), th.tensor([[1.0, 0.0], [0.0, 2.0]]))
        4.0
    """
    return float(gradient_norms(fn, _as_parts(inputs, "inputs"), create_graph=False).max())


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Spectral-normalise every ``nn.Linear`` in ``module`` in place; returns ``module``.

    Uses :func:`torch.nn.utils.parametrizations.spectral_norm` (one power iteration per
    training-mode forward), so the weights stay in the ``state_dict`` under
    ``parametrizations.weight.original`` and a file saved with it loads only into a module
    normalised the same way.

    Raises:
        ValueError: the module has no linear layer, or is already normalised.
    """
    from torch.nn.utils.parametrize import is_parametrized

    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(module).__name__} has no nn.Linear layer to spectral-normalise")
    if any(is_parametrized(m, "weight") for m in linears):
        raise ValueError(f"{type(module).__name__} is already spectral-normalised")
    for layer in linears:
        nn.utils.parametrizations.spectral_norm(layer)
    return module


def is_spectral_normalized(module: nn.Module) -> bool:
    """Whether every linear layer of ``module`` carries a spectral-norm parametrisation."""
    from torch.nn.utils.parametrize import is_parametrized

    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return bool(linears) and all(is_parametrized(m, "weight") for m in linears)
