"""OpenAI-ES with antithetic sampling, fitness shaping and Adam: pure maths, no RL.

Salimans et al. 2017 ("Evolution Strategies as a Scalable Alternative to RL"), as used by
Adversarial Cheap Talk (Lu et al., ICML 2023, section 4): for parameters ``theta`` and noise
``eps_i ~ N(0, I)``, the gradient of ``E[F(theta + sigma * eps)]`` is estimated by
``1 / (n * sigma) * sum_i f_i * eps_i`` with shaped fitness ``f_i``; antithetic pairs
``(eps, -eps)`` cancel the baseline term and halve the variance. Adam then *ascends* it.
"""

from __future__ import annotations

import math

import torch as th

SHAPINGS = ("centered_rank", "z_score", "none")


def centered_ranks(fitness: th.Tensor) -> th.Tensor:
    """Ranks scaled to ``[-0.5, 0.5]`` (ties broken by position): shape ``(n,) -> (n,)``.

    Example:
        >>> centered_ranks(th.tensor([3.0, 1.0, 2.0]))
        tensor([ 0.5000, -0.5000,  0.0000])
    """
    n = fitness.numel()
    if n < 2:
        raise ValueError(f"centred ranks need at least 2 fitness values, got {n}")
    ranks = th.empty_like(fitness, dtype=th.float32)
    ranks[th.argsort(fitness)] = th.arange(n, dtype=th.float32, device=fitness.device)
    return ranks / (n - 1) - 0.5


def z_scores(fitness: th.Tensor) -> th.Tensor:
    """``(f - mean) / std`` (zeros if all values are equal)."""
    f = fitness.float()
    std = f.std()
    return th.zeros_like(f) if std == 0 else (f - f.mean()) / std


def shape_fitness(fitness: th.Tensor, shaping: str) -> th.Tensor:
    if shaping == "centered_rank":
        return centered_ranks(fitness)
    if shaping == "z_score":
        return z_scores(fitness)
    if shaping == "none":
        return fitness.float()
    raise ValueError(f"unknown fitness shaping {shaping!r}; allowed: {SHAPINGS}")


def antithetic_noise(n: int, dim: int, generator: th.Generator, device: str = "cpu") -> th.Tensor:
    """``(n, dim)`` standard normal noise in antithetic pairs: rows ``i`` and ``i + n/2`` are
    negatives of each other; ``n`` must be even."""
    if n < 2 or n % 2:
        raise ValueError(f"population must be an even number >= 2, got {n}")
    half = th.randn(n // 2, dim, generator=generator).to(device)
    return th.cat([half, -half])


def es_gradient(noise: th.Tensor, shaped: th.Tensor, sigma: float) -> th.Tensor:
    """The ES search-gradient estimate, shape ``(dim,)``.

    Args:
        noise: ``(n, dim)`` perturbations ``eps_i`` (the candidates were ``theta + sigma*eps_i``).
        shaped: ``(n,)`` shaped fitness of each candidate.
        sigma: perturbation scale.
    """
    return noise.T.float() @ shaped.float() / (noise.shape[0] * sigma)


class Adam:
    """Adam (Kingma & Ba 2015) on a flat vector, ascending: ``theta += lr * m_hat / (sqrt(v_hat)
    + eps)``."""

    def __init__(self, dim: int, lr: float = 0.01, betas=(0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m, self.v, self.t = th.zeros(dim), th.zeros(dim), 0

    def step(self, theta: th.Tensor, grad: th.Tensor) -> th.Tensor:
        b1, b2 = self.betas
        self.t += 1
        self.m = self.m.to(grad.device) * b1 + (1 - b1) * grad
        self.v = self.v.to(grad.device) * b2 + (1 - b2) * grad * grad
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        return theta + self.lr * m_hat / (v_hat.sqrt() + self.eps)


class OpenAIES:
    """Ask/tell OpenAI-ES: ``candidates = es.ask()`` (``(popsize, dim)``), evaluate them, then
    ``es.tell(fitness)`` (``(popsize,)``, higher is better) moves ``es.theta``.

    Args:
        theta: initial parameters, shape ``(dim,)``.
        popsize: even number >= 2 (antithetic pairs).
        sigma: perturbation scale (> 0).
        lr: Adam step size.
        shaping: ``"centered_rank"``, ``"z_score"`` or ``"none"``.
        weight_decay: L2 pull towards 0 added to the gradient (OpenAI-ES uses 0.005-ish).
        seed: seed of the noise generator.

    Example:
        >>> es = OpenAIES(th.zeros(2), popsize=64, sigma=0.1, lr=0.1, seed=0)
        >>> for _ in range(50):
        ...     x = es.ask()
        ...     _ = es.tell(-((x - th.tensor([1.0, -1.0])) ** 2).sum(1))
        >>> bool(((es.theta - th.tensor([1.0, -1.0])).abs() < 0.2).all())
        True
    """

    def __init__(
        self,
        theta: th.Tensor,
        popsize: int,
        sigma: float = 0.1,
        lr: float = 0.01,
        shaping: str = "centered_rank",
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> None:
        if isinstance(popsize, bool) or not isinstance(popsize, int) or popsize < 2 or popsize % 2:
            raise ValueError(f"population must be an even integer >= 2, got {popsize!r}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
        shape_fitness(th.zeros(2), shaping)  # validates the name
        self.theta = theta.detach().clone().float().reshape(-1)
        self.popsize, self.sigma, self.shaping, self.weight_decay = (
            popsize,
            sigma,
            shaping,
            weight_decay,
        )
        self.adam = Adam(self.theta.numel(), lr)
        self.generator = th.Generator().manual_seed(seed)
        self._noise: th.Tensor | None = None

    def ask(self) -> th.Tensor:
        self._noise = antithetic_noise(
            self.popsize, self.theta.numel(), self.generator, str(self.theta.device)
        )
        return self.theta[None] + self.sigma * self._noise

    def tell(self, fitness: th.Tensor) -> th.Tensor:
        """Update ``theta`` from the fitness of the last ``ask()``; returns the gradient used."""
        if self._noise is None:
            raise RuntimeError("call ask() before tell()")
        fitness = th.as_tensor(fitness, dtype=th.float32, device=self.theta.device).reshape(-1)
        if fitness.numel() != self.popsize:
            raise ValueError(f"expected {self.popsize} fitness values, got {fitness.numel()}")
        grad = es_gradient(self._noise, shape_fitness(fitness, self.shaping), self.sigma)
        grad = grad - self.weight_decay * self.theta
        self.theta = self.adam.step(self.theta, grad)
        self._noise = None
        return grad
