"""The discriminator of off-policy adversarial imitation, its loss and its reward.

Follows the reference code of Blonde, Strasser & Kalousis 2022 ("Lipschitzness Is All You
Need To Tame Off-policy Generative Adversarial Imitation Learning";
``lionelblonde/liayn-pytorch``, ``agents/nets.py`` and ``SAMAgent.update_discriminator``),
with its ``train_mujoco_sam.yaml`` defaults:

- ``D(obs, action)``: raw inputs clamped to ``[-5, 5]``, two hidden layers of 100 with
  LeakyReLU(0.1), spectral norm on the hidden layers (not the head), orthogonal init.
- loss: binary cross-entropy, expert = 1 (labels smoothed to ``U(0.7, 1.2)``), policy = 0;
  minus ``0.001 *`` the Bernoulli entropy of the scores; plus ``10 *`` a one-sided gradient
  penalty at expert/policy interpolates with target 1 (:func:`advrl.agents.lipschitz.
  gradient_penalty`).
- reward (``reward_type="gail"``, ``minimax_only=True``): ``r = -log(1 - sigmoid(D) + 1e-8)``,
  >= 0, large where the discriminator takes the pair for the expert's.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch as th
import torch.nn.functional as F
from torch import nn

from advrl.agents.lipschitz import SITES, gradient_penalty, local_lipschitz, spectral_normalize

HEADER_KEY = "advrl_discriminator"
LEAK = 0.1


@dataclass(frozen=True)
class AILConfig:
    """Discriminator settings (defaults: the reference's ``train_mujoco_sam.yaml``)."""

    hidden: tuple[int, ...] = (100, 100)
    """Hidden layer widths of ``D``."""
    spectral_norm: bool = True
    """Spectral-normalise the hidden layers."""
    grad_pen: bool = True
    """Add the gradient penalty to the loss (the paper's "sine qua non")."""
    grad_pen_site: str = "interpolates"
    """Where the penalty is taken (:data:`advrl.agents.lipschitz.SITES`; reference: wgan)."""
    grad_pen_target: float = 1.0
    """The Lipschitz constant ``k`` aimed at."""
    grad_pen_scale: float = 10.0
    """The penalty's weight in the loss."""
    one_sided: bool = True
    """Penalise only gradient norms above ``k``."""
    ent_reg_scale: float = 0.001
    """Weight of the (maximised) Bernoulli entropy of the scores."""
    real_labels: tuple[float, float] = (0.7, 1.2)
    """Expert labels drawn from ``U(low, high)``; ``(1, 1)`` for hard labels."""
    input_clip: float = 5.0
    """Inputs are clamped to ``[-input_clip, input_clip]`` (the reference's raw-input clamp)."""
    lr: float = 5e-4
    """Adam learning rate of the discriminator."""
    d_steps: int = 1
    """Discriminator minibatch updates per SAC gradient step."""
    batch_size: int = 64
    """Expert (and as many policy) transitions per discriminator update."""
    lipschitz_every: int = 100
    """Discriminator updates between two local Lipschitz estimates in the logs."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "real_labels", tuple(float(x) for x in self.real_labels))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be a non-empty tuple of widths >= 1, got "
                             f"{self.hidden!r}")  # fmt: skip
        if self.grad_pen_site not in SITES:
            raise ValueError(f"unknown grad_pen_site {self.grad_pen_site!r}; allowed: "
                             f"{list(SITES)}")  # fmt: skip
        for name in ("grad_pen_target", "grad_pen_scale", "ent_reg_scale", "input_clip", "lr"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.lr <= 0 or self.input_clip <= 0:
            raise ValueError(f"lr and input_clip must be > 0, got {self.lr!r}, "
                             f"{self.input_clip!r}")  # fmt: skip
        low, high = self.real_labels if len(self.real_labels) == 2 else (math.nan, math.nan)
        if not (0 <= low <= high):  # the reference smooths to (0.7, 1.2): above 1 is allowed
            raise ValueError(f"real_labels must be (low, high) with 0 <= low <= high, got "
                             f"{self.real_labels!r}")  # fmt: skip
        for name in ("d_steps", "batch_size", "lipschitz_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class Discriminator(nn.Module):
    """``D(obs, action) -> logit``: high for expert-like pairs.

    Args:
        obs_dim, act_dim: flat input sizes.
        hidden: hidden layer widths.
        spectral_norm: spectral-normalise the hidden layers (the head stays free, as in the
            reference).
        input_clip: inputs are clamped to ``[-input_clip, input_clip]``.

    Example:
        >>> d = Discriminator(3, 2, hidden=(8,))
        >>> d(th.zeros(4, 3), th.zeros(4, 2)).shape
        torch.Size([4])
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (100, 100),
        spectral_norm: bool = True, input_clip: float = 5.0,
    ) -> None:  # fmt: skip
        super().__init__()
        if obs_dim < 1 or act_dim < 1:
            raise ValueError(f"obs_dim and act_dim must be >= 1, got {obs_dim}, {act_dim}")
        self.config = {"obs_dim": int(obs_dim), "act_dim": int(act_dim),
                       "hidden": [int(h) for h in hidden], "spectral_norm": bool(spectral_norm),
                       "input_clip": float(input_clip)}  # fmt: skip
        layers: list[nn.Module] = []
        width = obs_dim + act_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(LEAK)]
            width = h
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        gain = math.sqrt(2) / math.sqrt(1 + LEAK**2)  # the reference's init (nets.py)
        for m in self.trunk:
            if isinstance(m, nn.Linear):
                nn.init.orthogonal_(m.weight, gain=gain)
                nn.init.zeros_(m.bias)
        nn.init.orthogonal_(self.head.weight, gain=0.01)
        nn.init.zeros_(self.head.bias)
        if spectral_norm:
            spectral_normalize(self.trunk)
        self.input_clip = float(input_clip)

    def forward(self, obs: th.Tensor, action: th.Tensor) -> th.Tensor:
        """Logits, shape ``(batch,)``, for ``obs: (batch, obs_dim)``, ``action: (batch,
        act_dim)``."""
        x = th.cat([obs.flatten(1), action.flatten(1)], dim=1)
        x = x.clamp(-self.input_clip, self.input_clip)
        return self.head(self.trunk(x)).squeeze(-1)


def gail_reward(logits: th.Tensor) -> th.Tensor:
    """The reference's ``gail`` reward with ``minimax_only``: ``-log(1 - sigmoid(D) + 1e-8)``.

    Example:
        >>> round(gail_reward(th.tensor(0.0)).item(), 4)  # log 2
        0.6931
    """
    return -th.log(1.0 - th.sigmoid(logits) + 1e-8)


def discriminator_loss(
    disc: nn.Module,
    expert: tuple[th.Tensor, th.Tensor],
    policy: tuple[th.Tensor, th.Tensor],
    config: AILConfig,
    generator: th.Generator | None = None,
) -> tuple[th.Tensor, dict[str, float]]:
    """The discriminator's loss on one expert and one policy minibatch, and its parts.

    Args:
        disc: ``disc(obs, action) -> logits (batch,)``.
        expert, policy: ``(obs, action)`` minibatches, each ``(batch, dim)``.
        config: the loss settings (entropy weight, label smoothing, gradient penalty).
        generator: randomness of the smoothed labels and the penalty's interpolation.

    Returns:
        ``(loss, metrics)``; metrics holds ``bce``, ``entropy``, ``grad_pen`` (the scaled
        penalty, 0 when off), ``expert_acc`` and ``policy_acc``.
    """
    # one forward for both batches: one spectral-norm power iteration per update
    n = len(policy[0])
    scores = disc(th.cat([policy[0], expert[0]]), th.cat([policy[1], expert[1]]))
    p_scores, e_scores = scores[:n], scores[n:]
    # Bernoulli entropy of the scores, as BCE(scores, sigmoid(scores)) (reference code)
    entropy = F.binary_cross_entropy_with_logits(scores, th.sigmoid(scores))
    low, high = config.real_labels
    real = th.empty_like(e_scores).uniform_(low, high, generator=generator)
    p_loss = F.binary_cross_entropy_with_logits(p_scores, th.zeros_like(p_scores), reduction="none")
    e_loss = F.binary_cross_entropy_with_logits(e_scores, real, reduction="none")
    bce = (p_loss + e_loss).mean()
    loss = bce - config.ent_reg_scale * entropy
    penalty = th.zeros((), device=scores.device)
    if config.grad_pen:
        penalty = config.grad_pen_scale * gradient_penalty(
            disc, expert, policy, target=config.grad_pen_target, one_sided=config.one_sided,
            site=config.grad_pen_site, generator=generator,
        )  # fmt: skip
        loss = loss + penalty
    metrics = {"bce": bce.item(), "entropy": entropy.item(), "grad_pen": penalty.item(),
               "expert_acc": float((e_scores > 0).float().mean()),
               "policy_acc": float((p_scores < 0).float().mean())}  # fmt: skip
    return loss, metrics


def lipschitz_estimate(disc: nn.Module, *batches: tuple[th.Tensor, th.Tensor]) -> float:
    """Largest input-gradient norm of ``disc`` over the given ``(obs, action)`` batches."""
    obs = th.cat([b[0] for b in batches])
    act = th.cat([b[1] for b in batches])
    return local_lipschitz(disc, (obs, act))


def save_discriminator(disc: Discriminator, path: str | Path) -> None:
    """Weights only: safetensors with the architecture in a JSON header, written atomically.

    Example:
        >>> import tempfile, os
        >>> d = Discriminator(3, 2, hidden=(8,))
        >>> p = os.path.join(tempfile.mkdtemp(), "d.safetensors")
        >>> save_discriminator(d, p)
        >>> load_discriminator(p).config == d.config
        True
    """
    from safetensors.torch import save

    from advrl.zoo.checkpoint import atomic_write_bytes

    if not isinstance(disc, Discriminator):
        raise TypeError(f"expected a Discriminator, got {type(disc).__name__}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in disc.state_dict().items()}
    blob = save(tensors, metadata={HEADER_KEY: json.dumps(disc.config)})
    atomic_write_bytes(Path(path), blob)


def load_discriminator(path: str | Path, device: th.device | str = "cpu") -> Discriminator:
    """Inverse of :func:`save_discriminator`; nothing is unpickled.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file was not written by :func:`save_discriminator` or its tensors do
            not fit the architecture its header names.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no discriminator file at {str(path)!r}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open API)
    if HEADER_KEY not in meta:
        raise ValueError(f"{str(path)!r} was not written by save_discriminator")
    cfg = json.loads(meta[HEADER_KEY])
    try:
        disc = Discriminator(cfg["obs_dim"], cfg["act_dim"], tuple(cfg["hidden"]),
                             cfg["spectral_norm"], cfg["input_clip"])  # fmt: skip
        disc.load_state_dict(tensors, strict=True)
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"{str(path)!r}: tensors do not fit the header {cfg}: {err}") from err
    return disc.to(device)
