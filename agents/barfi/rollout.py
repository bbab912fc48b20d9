"""Policies, episode batches and (differentiable) returns for BARFI's REINFORCE learner.

A batch is one episode per env of a Gymnasium vector env whose info carries
``reward_true`` (primary) and ``reward_aux`` arrays; steps after an env's first episode
ended are masked out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch as th
from torch import nn


class PolicyNet(nn.Module):
    """A tanh MLP policy: categorical for ``Discrete``, diagonal Gaussian for ``Box`` actions.

    Args:
        obs_dim: flat observation length.
        action_space: the single-env action space.
        hidden: hidden layer sizes (``()`` for a linear policy).
        log_std: initial log standard deviation of the Gaussian (Box actions only).
        device: torch device.

    Example:
        >>> pi = PolicyNet(4, gym.spaces.Discrete(2), hidden=(8,))
        >>> pi.dist(th.zeros(5, 4)).probs.shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.Space,
        hidden: Sequence[int] = (16,),
        log_std: float = -0.5,
        device: th.device | str = "cpu",
    ) -> None:
        super().__init__()
        if isinstance(action_space, gym.spaces.Discrete):
            out, self.discrete = int(action_space.n), True
        elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            out, self.discrete = int(action_space.shape[0]), False
            self.register_buffer("low", th.as_tensor(action_space.low, device=device))
            self.register_buffer("high", th.as_tensor(action_space.high, device=device))
            self.log_std = nn.Parameter(th.full((out,), float(log_std), device=device))
        else:
            raise TypeError(f"action space must be Discrete or a 1-d Box, got {action_space}")
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be ints >= 1, got {tuple(hidden)!r}")
        layers: list[nn.Module] = []
        sizes = [obs_dim, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.Tanh()]
        head = nn.Linear(sizes[-1], out)
        # Small last layer: a near-uniform / near-zero-mean start (common PG practice).
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)
        self.net = nn.Sequential(*layers, head).to(device)

    def dist(self, obs: th.Tensor) -> th.distributions.Distribution:
        """Action distribution; obs: shape ``(..., obs_dim)``."""
        out = self.net(obs)
        if self.discrete:
            return th.distributions.Categorical(logits=out)
        return th.distributions.Independent(th.distributions.Normal(out, self.log_std.exp()), 1)

    def sample(self, obs: th.Tensor, generator: th.Generator) -> th.Tensor:
        """Actions drawn with an injected generator; obs: shape ``(batch, obs_dim)``."""
        with th.no_grad():
            out = self.net(obs)
            if self.discrete:
                return th.multinomial(th.softmax(out, -1), 1, generator=generator).squeeze(-1)
            noise = th.randn(out.shape, generator=generator, device=out.device)
            return out + self.log_std.exp() * noise

    def env_action(self, action: th.Tensor) -> np.ndarray:
        """The action the env receives (Box actions clipped to the space)."""
        if self.discrete:
            return action.cpu().numpy()
        return th.maximum(th.minimum(action, self.high), self.low).cpu().numpy()


@dataclass
class Batch:
    """One episode per env, time-major: obs ``(T, N, obs_dim)``, actions ``(T, N, ...)``,
    r_p / r_aux / mask ``(T, N)`` (mask = 1 on steps of each env's first episode)."""

    obs: th.Tensor
    actions: th.Tensor
    r_p: th.Tensor
    r_aux: th.Tensor
    mask: th.Tensor

    def primary_returns(self) -> th.Tensor:
        """Undiscounted primary return of each episode, shape ``(N,)``."""
        return (self.r_p * self.mask).sum(0)

    def aux_returns(self) -> th.Tensor:
        """Undiscounted auxiliary return of each episode, shape ``(N,)``."""
        return (self.r_aux * self.mask).sum(0)


def collect(
    env: gym.vector.VectorEnv,
    policy: PolicyNet,
    horizon: int,
    generator: th.Generator,
    seed: int,
) -> Batch:
    """Run one episode in every env (at most ``horizon`` steps) with ``policy``."""
    device = next(policy.parameters()).device
    obs_np, _ = env.reset(seed=seed)
    n = env.num_envs
    alive = np.ones(n, dtype=bool)
    obs_l, act_l, rp_l, ra_l, mask_l = [], [], [], [], []
    for _ in range(horizon):
        obs = th.as_tensor(np.asarray(obs_np, dtype=np.float32), device=device).reshape(n, -1)
        action = policy.sample(obs, generator)
        obs_np, _, terminated, truncated, info = env.step(policy.env_action(action))
        for key in ("reward_true", "reward_aux"):
            if key not in info:
                raise KeyError(f"the env's info has no {key!r} (wrap it in a BARFI task)")
        obs_l.append(obs)
        act_l.append(action)
        rp_l.append(np.asarray(info["reward_true"], dtype=np.float32))
        ra_l.append(np.asarray(info["reward_aux"], dtype=np.float32))
        mask_l.append(alive.copy())
        alive &= ~(np.asarray(terminated) | np.asarray(truncated))
        if not alive.any():
            break

    def stack(xs: list[np.ndarray]) -> th.Tensor:
        return th.as_tensor(np.stack(xs), dtype=th.float32, device=device)

    mask = stack(mask_l)
    # Rewards of masked steps come from the next episode (autoreset): zero them.
    return Batch(th.stack(obs_l), th.stack(act_l), stack(rp_l) * mask, stack(ra_l) * mask, mask)


def discounted_returns(rewards: th.Tensor, gamma: th.Tensor | float) -> th.Tensor:
    """``G_t = sum_{k >= t} gamma^(k - t) r_k`` per column; rewards: shape ``(T, N)``.

    A ``(T, T)`` upper-triangular discount matrix instead of a Python loop, so the result is
    differentiable in ``rewards`` and ``gamma`` with a shallow graph (for BARFI's second-order
    terms). Masked (post-episode) rewards must already be zero.

    Example:
        >>> discounted_returns(th.tensor([[1.0], [1.0], [1.0]]), 0.5).squeeze(1)
        tensor([1.7500, 1.5000, 1.0000])
    """
    t = rewards.shape[0]
    gamma = th.as_tensor(gamma, dtype=rewards.dtype, device=rewards.device)
    idx = th.arange(t, device=rewards.device, dtype=rewards.dtype)
    lag = idx[None, :] - idx[:, None]  # k - t
    upper = lag >= 0
    # gamma^lag via exp(lag * log gamma) keeps the gradient in gamma; lower triangle zeroed.
    if bool(gamma == 1.0) and not gamma.requires_grad:
        disc = upper.to(rewards.dtype)
    else:
        disc = th.where(upper, th.exp(lag.clamp(min=0) * th.log(gamma)), th.zeros_like(lag))
    return disc @ rewards


def reinforce_surrogate(
    policy: PolicyNet, batch: Batch, rewards: th.Tensor, gamma: th.Tensor | float
) -> th.Tensor:
    """``(1/N) sum_{n,t} mask log pi(a_t|s_t) (G_t - b_t)``, whose theta-gradient is REINFORCE.

    ``b_t`` is the mean return-to-go at step ``t`` over the envs still alive; it is kept in the
    graph, so it also baselines the mixed derivative ``grad_phi grad_theta`` BARFI needs. The
    ``gamma^t`` factor of the discounted policy gradient is dropped (common practice).
    """
    returns = discounted_returns(rewards * batch.mask, gamma)
    alive = batch.mask.sum(1, keepdim=True).clamp(min=1.0)
    baseline = (returns * batch.mask).sum(1, keepdim=True) / alive
    logp = policy.dist(batch.obs).log_prob(batch.actions)
    return (batch.mask * logp * (returns - baseline)).sum() / batch.mask.shape[1]
