"""Random-noise baselines: the perturbation ignores the victim."""

from __future__ import annotations

import math

import torch as th
from advrl.attacks.balls import uniform_in_ball
from advrl.attacks.base import Attack

from advrl.types import Norm, TorchPolicy


class UniformNoise(Attack):
    """Uniform noise in the ball: ``s + U(-eps, eps)`` per dimension for l_inf, uniform in
    the l_2 ball for l_2 (the SA-PPO "random" attack).

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> attack = UniformNoise(eps=0.1)
        >>> obs = th.zeros(4, 3)
        >>> adv = attack(obs, LinearPolicy(th.ones(1, 3)), th.Generator().manual_seed(0))
        >>> bool((adv - obs).abs().max() <= 0.1)
        True
    """

    name = "uniform"
    needs_gradients = False

    def perturb(self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None):
        return obs + uniform_in_ball(obs, self.eps, self.norm, generator)


class GaussianNoise(Attack):
    """Gaussian noise projected onto the ball.

    Each coordinate gets ``N(0, std^2)``; by default ``std = eps`` for l_inf and
    ``eps / sqrt(dim)`` for l_2 (so the expected squared length is ``eps^2``), then the
    perturbation is projected onto the ball.

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> adv = GaussianNoise(eps=0.5, norm="l2")(th.zeros(2, 4), LinearPolicy(th.ones(1, 4)))
        >>> bool(adv.norm(dim=1).max() <= 0.5 + 1e-6)
        True
    """

    name = "gaussian"
    needs_gradients = False

    def __init__(self, eps: float, norm: Norm = "linf", std: float | None = None) -> None:
        super().__init__(eps, norm)
        if std is not None and (not math.isfinite(std) or std <= 0):
            raise ValueError(f"std must be a finite number > 0, got {std!r}")
        self.std = std

    def perturb(self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None):
        std = self.std
        if std is None:
            dim = math.prod(obs.shape[1:])
            std = self.eps if self.norm == "linf" else self.eps / math.sqrt(dim)
        device = generator.device if generator is not None else th.device("cpu")
        noise = th.randn(obs.shape, generator=generator, dtype=obs.dtype, device=device)
        return obs + std * noise.to(obs.device)
