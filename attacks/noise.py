"""Random-noise baselines: the perturbation ignores the victim."""

from __future__ import annotations

import math
from abc import abstractmethod

import torch as th

from advrl.attacks.balls import project, uniform_in_ball
from advrl.attacks.base import Attack, check_length, check_real
from advrl.types import Norm, TorchPolicy


class NoiseAttack(Attack):
    """An attack whose perturbation ignores the victim and the observation.

    :meth:`sample` draws perturbations directly, which lets the wrappers draw them in blocks
    (one generator call per block of steps) and keep per-step overhead near zero.
    """

    needs_gradients = False

    @abstractmethod
    def sample(self, like: th.Tensor, generator: th.Generator | None) -> th.Tensor:
        """Perturbations shaped like ``like`` (``(batch, *obs_shape)``), inside the ball.

        Only ``like``'s shape, dtype and device may be read, and ``like`` must not be
        modified: the wrappers pass the same template for every block they draw.
        """

    def perturb(self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None):
        return obs + self.sample(obs, generator)


class UniformNoise(NoiseAttack):
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

    def sample(self, like: th.Tensor, generator: th.Generator | None) -> th.Tensor:
        return uniform_in_ball(like, self.eps, self.norm, generator)


class GaussianNoise(NoiseAttack):
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

    def __init__(self, eps: float, norm: Norm = "linf", std: float | None = None) -> None:
        super().__init__(eps, norm)
        if std is not None:
            std = check_real(std, "std", "a finite number > 0", lambda s: s > 0)
            check_length(std, "std", self.norm, th.float64, 1)
        self.std = std

    def lengths(self) -> dict[str, float]:
        return {"eps": self.eps} if self.std is None else {"eps": self.eps, "std": self.std}

    def sample(self, like: th.Tensor, generator: th.Generator | None) -> th.Tensor:
        std = self.std
        if std is None:
            dim = math.prod(like.shape[1:])
            std = self.eps if self.norm == "linf" else self.eps / math.sqrt(dim)
        device = generator.device if generator is not None else th.device("cpu")
        noise = th.randn(like.shape, generator=generator, dtype=like.dtype, device=device)
        return project(std * noise.to(like.device), self.eps, self.norm)
