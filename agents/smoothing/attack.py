"""An adaptive attack on smoothed agents, for the empirical check of the certificates.

PGD (l_2) on the noise-averaged policy output, one new frame at a time, with the remaining
total budget of the episode tracked per env (Kumar et al. 2022, Sec. 6: the adversary may
depend on everything seen so far, and ``||(delta_1, ..., delta_T)||_2 <= B``).
"""

from __future__ import annotations

import math

import torch as th
import torch.nn.functional as F

from advrl.agents.smoothing.rollout import FrameHistory
from advrl.agents.smoothing.wrappers import check_sigma
from advrl.types import TorchPolicy


class SmoothedPGD:
    """Spend at most ``per_step`` of l_2 norm per frame, never more than the budget left.

    The objective averages the victim's output over ``samples`` noise draws (fixed during a
    step's PGD iterations, so the objective is smooth): for discrete policies, push down the
    noise-averaged probability of the action the smoothed agent would most likely take on the
    clean frame; for continuous ones, push the noise-averaged action away from its clean value.

    Args:
        budget: total l_2 budget B of the episode (>= 0).
        sigma: the smoothing noise std.
        horizon: episode length T; the default per-step radius is ``B / sqrt(T)``, which
            spends the whole budget over a full-length episode.
        steps: PGD iterations per frame. samples: noise draws in the average.

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> attack = SmoothedPGD(budget=1.0, sigma=0.2, horizon=4)
        >>> attack.reset(n_envs=3)
        >>> policy = LinearPolicy(th.eye(2), discrete=True)
        >>> delta = attack(th.zeros(3, 2), FrameHistory(1), policy, th.Generator().manual_seed(0))
        >>> bool(delta.norm(dim=1).max() <= 0.5 + 1e-6)   # B / sqrt(T)
        True
    """

    def __init__(
        self,
        budget: float,
        sigma: float,
        horizon: int,
        *,
        per_step: float | None = None,
        steps: int = 10,
        samples: int = 16,
    ) -> None:
        if not math.isfinite(budget) or budget < 0:
            raise ValueError(f"budget must be a finite number >= 0, got {budget!r}")
        self.budget = float(budget)
        self.sigma = check_sigma(sigma)
        self.per_step = per_step if per_step is not None else self.budget / math.sqrt(horizon)
        self.steps, self.samples = steps, samples
        self.remaining_sq: th.Tensor | None = None

    def reset(self, n_envs: int) -> None:
        self.remaining_sq = th.full((n_envs,), self.budget**2, dtype=th.float64)

    def _objective(self, policy: TorchPolicy, frame, delta, noise, history, target):
        n = frame.shape[0]
        noisy = (frame + delta).unsqueeze(0) + self.sigma * noise  # (samples, n, *shape)
        noisy = noisy.reshape(-1, *frame.shape[1:])
        obs = policy.normalize(history.policy_input(noisy))
        if policy.is_discrete:
            probs = F.softmax(policy.action_logits(obs), dim=-1).reshape(self.samples, n, -1)
            mean_probs = probs.mean(dim=0)
            if target is None:
                return mean_probs
            return -th.log(mean_probs.gather(1, target[:, None]).squeeze(1) + 1e-12)
        mean_action = policy.action(obs).reshape(self.samples, n, -1).mean(dim=0)
        if target is None:
            return mean_action
        return (mean_action - target).pow(2).sum(dim=-1)

    def __call__(
        self, frame: th.Tensor, history: FrameHistory, policy: TorchPolicy, generator
    ) -> th.Tensor:
        if self.remaining_sq is None or self.remaining_sq.shape[0] != frame.shape[0]:
            self.reset(frame.shape[0])
        # Float32 steps leave ~1e-7 of a spent budget behind; treat that as spent.
        left = th.where(self.remaining_sq > 1e-6 * self.budget**2, self.remaining_sq, 0.0)
        radius = th.clamp(left.sqrt(), max=self.per_step).float()
        delta = th.zeros_like(frame)
        if float(radius.max()) <= 0:
            return delta
        shape = (self.samples, *frame.shape)
        noise = th.randn(shape, generator=generator).to(frame.device)
        history = history.repeat(self.samples)
        with th.no_grad():
            clean = self._objective(policy, frame, delta, noise, history, None)
            target = clean.argmax(dim=-1) if policy.is_discrete else clean
        view = (-1, *[1] * (frame.ndim - 1))
        step = (2.5 * radius / self.steps).view(view)
        for _ in range(self.steps):
            delta.requires_grad_(True)
            loss = self._objective(policy, frame, delta, noise, history, target).sum()
            (grad,) = th.autograd.grad(loss, delta)
            flat_norm = grad.reshape(grad.shape[0], -1).norm(dim=1).view(view)
            delta = delta.detach() + step * grad / (flat_norm + 1e-12)
            length = delta.reshape(delta.shape[0], -1).norm(dim=1).view(view)
            delta = delta * th.clamp(radius.view(view) / (length + 1e-12), max=1.0)
        self.remaining_sq = (
            self.remaining_sq - delta.reshape(delta.shape[0], -1).pow(2).sum(dim=1).double()
        )
        return delta.detach()
