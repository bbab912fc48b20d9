"""Gradient attacks: FGSM, PGD, MAD (SGLD), critic and targeted-action PGD.

All are batched: one forward/backward pass per step for the whole batch. All take 10 steps
by default. MAD and the critic attack start next to the clean point and use the SA-PPO step
eps/10 (../shared/PAPERS.md "Observation attacks"). PGD starts anywhere in the ball, so it
uses Madry et al.'s 2.5 * eps / steps, which lets every coordinate cross the whole ball.
"""

from __future__ import annotations

from collections.abc import Callable

import torch as th

from advrl.attacks import losses
from advrl.attacks.balls import project, uniform_in_ball, unit_direction
from advrl.attacks.base import (
    Attack,
    check_bool,
    check_length,
    check_positive_int,
    check_real,
)
from advrl.types import Norm, TorchPolicy

Loss = Callable[[TorchPolicy, th.Tensor, losses.Reference], th.Tensor]


def _gradient(loss: Loss, policy: TorchPolicy, x: th.Tensor, ref: losses.Reference) -> th.Tensor:
    x = x.detach().requires_grad_(True)
    with th.enable_grad():
        (grad,) = th.autograd.grad(loss(policy, x, ref).sum(), x)
    return grad


class PGD(Attack):
    """Projected gradient ascent on a loss inside the eps-ball (Madry et al. 2018).

    ``x <- Proj(x + step_size * d(grad))`` with ``d`` = sign (l_inf) or unit l_2 direction,
    from a uniform random start in the ball. The default loss pushes the victim off its
    clean action (see :func:`attacks.losses.action_deviation`).

    Args:
        eps: ball radius (>= 0). norm: ``"linf"`` or ``"l2"``.
        steps: gradient steps (default 10). step_size: default ``2.5 * eps / steps``.
        random_start: start from a uniform point in the ball (default True).

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> policy = LinearPolicy(th.tensor([[1.0, -2.0]]))
        >>> obs = th.zeros(1, 2)
        >>> adv = PGD(eps=0.1)(obs, policy, th.Generator().manual_seed(0))
        >>> [round(abs(v), 3) for v in adv[0].tolist()]   # the worst case is a ball vertex
        [0.1, 0.1]
    """

    name = "pgd"
    loss: Loss = staticmethod(losses.action_deviation)
    default_step_scale = 2.5
    """Default step size is ``default_step_scale * eps / steps``."""

    def __init__(
        self,
        eps: float,
        norm: Norm = "linf",
        steps: int = 10,
        step_size: float | None = None,
        random_start: bool = True,
    ) -> None:
        super().__init__(eps, norm)
        self.steps = check_positive_int(steps, "steps")
        if step_size is None:
            # eps / steps first: eps near the float limit must not overflow on the way.
            step_size = type(self).default_step_scale * (self.eps / self.steps)
        else:
            step_size = check_real(step_size, "step_size", "a finite number > 0", lambda s: s > 0)
        check_length(step_size, "step_size", self.norm, th.float64, 1)
        self.step_size = step_size
        self.random_start = check_bool(random_start, "random_start")

    def lengths(self) -> dict[str, float]:
        return {"eps": self.eps, "step_size": self.step_size}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(eps={self.eps}, norm={self.norm!r}, steps={self.steps}, "
            f"step_size={self.step_size:g})"
        )

    def objective(self, policy: TorchPolicy, obs: th.Tensor) -> Loss:
        """The loss to maximise for this batch (hook for targeted variants)."""
        return type(self).loss

    def start(self, obs: th.Tensor, generator: th.Generator | None) -> th.Tensor:
        if not self.random_start:
            return obs
        return obs + uniform_in_ball(obs, self.eps, self.norm, generator)

    def step_direction(self, grad: th.Tensor, k: int, generator: th.Generator | None):
        return unit_direction(grad, self.norm)

    def perturb(self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None):
        ref = losses.Reference.of(policy, obs)
        loss = self.objective(policy, obs)
        x = self.start(obs, generator)
        for k in range(self.steps):
            grad = _gradient(loss, policy, x, ref)
            x = x + self.step_size * self.step_direction(grad, k, generator)
            x = obs + project(x - obs, self.eps, self.norm)
        return x


class FGSM(PGD):
    """Fast gradient sign method: one step of size eps (Goodfellow et al. 2015).

    The step is taken from the clean observation. For continuous policies the action
    deviation has zero gradient at the clean point, so the gradient is probed at a random
    point within ``probe * eps`` of it (R+FGSM, Tramer et al. 2018); discrete policies use
    the exact gradient at the clean point.

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> policy = LinearPolicy(th.tensor([[3.0, -1.0], [-3.0, 1.0]]), discrete=True)
        >>> adv = FGSM(eps=0.2)(th.tensor([[1.0, 0.0]]), policy)
        >>> adv.tolist()   # moves against the preferred action's margin, sign(w0 - w1)
        [[0.800000011920929, 0.20000000298023224]]
    """

    name = "fgsm"
    default_step_scale = 1.0  # one step of size eps

    def __init__(self, eps: float, norm: Norm = "linf", probe: float = 0.1) -> None:
        super().__init__(eps, norm, steps=1)
        self.probe = check_real(probe, "probe", "a number in (0, 1]", lambda p: 0 < p <= 1)

    def __repr__(self) -> str:
        return f"FGSM(eps={self.eps}, norm={self.norm!r})"

    def perturb(self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None):
        ref = losses.Reference.of(policy, obs)
        probe = obs
        if not policy.is_discrete:
            probe = obs + uniform_in_ball(obs, self.probe * self.eps, self.norm, generator)
        grad = _gradient(type(self).loss, policy, probe, ref)
        return obs + self.eps * unit_direction(grad, self.norm)


class MAD(PGD):
    """Maximal action difference with SGLD steps (SA-PPO, Zhang et al. 2020).

    Maximises :func:`attacks.losses.mad_divergence` by
    ``x <- Proj(x + step_size * d(grad + sigma_k * xi))``, ``xi ~ N(0, I)``, with the noise
    scale ``sigma_k = noise * mean|grad| * (1 - k / steps)`` annealed to zero, from a random
    start of one step's size (the divergence has zero gradient at the clean point).

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> adv = MAD(eps=0.1)(th.zeros(5, 3), LinearPolicy(th.ones(2, 3)), th.Generator())
        >>> adv.shape
        torch.Size([5, 3])
    """

    name = "mad"
    loss = staticmethod(losses.mad_divergence)
    default_step_scale = 1.0

    def __init__(
        self,
        eps: float,
        norm: Norm = "linf",
        steps: int = 10,
        step_size: float | None = None,
        noise: float = 0.5,
    ) -> None:
        super().__init__(eps, norm, steps, step_size, random_start=True)
        self.noise = check_real(noise, "noise", "a finite number >= 0", lambda n: n >= 0)

    def start(self, obs: th.Tensor, generator: th.Generator | None) -> th.Tensor:
        return obs + uniform_in_ball(obs, self.step_size, self.norm, generator)

    def step_direction(self, grad: th.Tensor, k: int, generator: th.Generator | None):
        sigma = self.noise * (1.0 - k / self.steps)
        if sigma > 0:
            device = generator.device if generator is not None else th.device("cpu")
            xi = th.randn(grad.shape, generator=generator, dtype=grad.dtype, device=device)
            scale = grad.abs().mean(dim=tuple(range(1, grad.ndim)), keepdim=True)
            grad = grad + sigma * scale * xi.to(grad.device)
        return unit_direction(grad, self.norm)


class CriticAttack(PGD):
    """Minimise the victim's own value estimate (SA-PPO "critic" attack; Pattanaik et al.).

    Random start ``U(-step, step)``, then ``x <- Proj(x - step * sign(grad V(x)))``.

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> policy = LinearPolicy(th.ones(1, 2), value_weight=th.tensor([1.0, -1.0]))
        >>> adv = CriticAttack(eps=0.1)(th.zeros(1, 2), policy, th.Generator().manual_seed(0))
        >>> [round(v, 3) for v in adv[0].tolist()]   # V = x0 - x1 is smallest at (-eps, +eps)
        [-0.1, 0.1]
    """

    name = "critic"
    loss = staticmethod(losses.negative_value)
    default_step_scale = 1.0

    def start(self, obs: th.Tensor, generator: th.Generator | None) -> th.Tensor:
        return obs + uniform_in_ball(obs, self.step_size, self.norm, generator)


class TargetedPGD(PGD):
    """PGD that drives a discrete policy towards a target action.

    Args:
        target: an action index, or ``"least_likely"`` (per sample, at the clean
            observation; the classic hardest target).

    Example:
        >>> import torch as th
        >>> from advrl.testing import LinearPolicy
        >>> policy = LinearPolicy(th.eye(2), discrete=True)
        >>> attack = TargetedPGD(eps=1.0, target=1)
        >>> policy.action(attack(th.tensor([[0.5, 0.0]]), policy, th.Generator())).tolist()
        [1]
    """

    name = "targeted"

    def __init__(
        self,
        eps: float,
        norm: Norm = "linf",
        steps: int = 10,
        step_size: float | None = None,
        target: int | str = "least_likely",
        random_start: bool = True,
    ) -> None:
        super().__init__(eps, norm, steps, step_size, random_start)
        valid = target == "least_likely" or (
            isinstance(target, int) and not isinstance(target, bool) and target >= 0
        )
        if not valid:
            raise ValueError(
                f"target must be an action index >= 0 or 'least_likely', got {target!r}"
            )
        self.target = target

    def objective(self, policy: TorchPolicy, obs: th.Tensor) -> Loss:
        if not policy.is_discrete:
            raise ValueError(
                f"TargetedPGD needs a discrete action space, got {policy.action_space}"
            )
        n = policy.action_space.n
        if self.target == "least_likely":
            with th.no_grad():
                target = policy.action_logits(obs).argmin(dim=-1)
        else:
            if self.target >= n:
                raise ValueError(f"target action {self.target} is out of range [0, {n})")
            target = th.full((obs.shape[0],), self.target, dtype=th.long, device=obs.device)
        return losses.targeted_log_prob(target)
