"""Norm balls: per-sample norms, projections and uniform samples, batched over dim 0.

``delta: shape (batch, *obs_shape)``; every function treats each sample independently.
"""

from __future__ import annotations

import math

import torch as th

from advrl.types import Norm

NORMS: tuple[Norm, ...] = ("linf", "l2")


def sample_norm(delta: th.Tensor, norm: Norm) -> th.Tensor:
    """Per-sample norm of ``delta``, shape (batch,)."""
    flat = delta.reshape(delta.shape[0], -1)
    if norm == "linf":
        return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(flat.shape[0])
    return flat.norm(dim=1)


def project(delta: th.Tensor, eps: float, norm: Norm) -> th.Tensor:
    """Closest point of the ``eps``-ball (per sample) to ``delta``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    lengths = sample_norm(delta, "l2").view(-1, *([1] * (delta.ndim - 1)))
    # Shrink only the samples outside the ball; the 1e-12 guards against 0/0.
    return delta * th.clamp(eps / (lengths + 1e-12), max=1.0)


def unit_direction(grad: th.Tensor, norm: Norm) -> th.Tensor:
    """Steepest-ascent direction of unit size for ``norm``: sign for l_inf, ``g / |g|`` for l_2."""
    if norm == "linf":
        return grad.sign()
    lengths = sample_norm(grad, "l2").view(-1, *([1] * (grad.ndim - 1)))
    return grad / (lengths + 1e-12)


def uniform_in_ball(
    like: th.Tensor, eps: float, norm: Norm, generator: th.Generator | None
) -> th.Tensor:
    """Uniform samples from the ``eps``-ball, one per sample of ``like`` (same shape/dtype)."""
    gen_device = generator.device if generator is not None else th.device("cpu")
    shape, dtype = like.shape, like.dtype
    if norm == "linf":
        u = th.rand(shape, generator=generator, dtype=dtype, device=gen_device)
        return ((2.0 * u - 1.0) * eps).to(like.device)
    # l2: a Gaussian direction times radius eps * U^(1/d) is uniform in the ball.
    dim = math.prod(shape[1:])
    direction = th.randn(shape, generator=generator, dtype=dtype, device=gen_device)
    direction = unit_direction(direction, "l2")
    radius = th.rand(shape[0], generator=generator, dtype=dtype, device=gen_device) ** (1.0 / dim)
    delta = direction * (eps * radius).view(-1, *([1] * (len(shape) - 1)))
    return project(delta, eps, "l2").to(like.device)
