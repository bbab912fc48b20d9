"""The ORPO occupancy discriminator: ``d(s, a) ~= log(mu_pi(s, a) / mu_ref(s, a))``.

Trained with the logistic loss ``softplus(-d)`` on current-policy samples and
``softplus(d)`` on reference samples, whose minimiser is exactly the log density ratio
(PAPERS.md "ORPO"). Input: the observation and the action (one-hot for discrete actions).
Architecture as in the paper: MLP 2 x 256, LeakyReLU.
"""

from __future__ import annotations

import gymnasium as gym
import torch as th
import torch.nn.functional as F
from torch import nn


def encode(obs: th.Tensor, actions: th.Tensor, action_space: gym.Space) -> th.Tensor:
    """Flatten observations and append actions (one-hot for Discrete), shape (n, features)."""
    flat = obs.reshape(obs.shape[0], -1).float()
    if isinstance(action_space, gym.spaces.Discrete):
        acts = F.one_hot(actions.reshape(-1).long(), int(action_space.n)).float()
    else:
        acts = actions.reshape(actions.shape[0], -1).float()
    return th.cat([flat, acts], dim=1)


class Discriminator(nn.Module):
    """MLP on (obs, action) features giving the log occupancy ratio.

    Example:
        >>> import gymnasium as gym
        >>> disc = Discriminator(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2))
        >>> disc(th.zeros(5, 3), th.zeros(5, dtype=th.long)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden: tuple[int, ...] = (256, 256),
        lr: float = 1e-3,
        device: th.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.action_space = action_space
        n_act = (
            int(action_space.n)
            if isinstance(action_space, gym.spaces.Discrete)
            else int(gym.spaces.flatdim(action_space))
        )
        sizes = (gym.spaces.flatdim(observation_space) + n_act, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.LeakyReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))
        self.to(device)
        self.device = th.device(device)
        self.optimizer = th.optim.Adam(self.parameters(), lr=lr)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        return self.net(encode(obs, actions, self.action_space).to(self.device)).squeeze(-1)

    def fit(
        self,
        policy_batch: tuple[th.Tensor, th.Tensor],
        reference_batch: tuple[th.Tensor, th.Tensor],
        epochs: int = 1,
        batch_size: int = 256,
        generator: th.Generator | None = None,
    ) -> float:
        """Minibatch logistic regression, policy samples vs reference samples; returns the
        last epoch's mean loss."""
        obs_p, act_p = policy_batch
        obs_r, act_r = reference_batch
        n = min(len(obs_p), len(obs_r))
        losses = []
        for _ in range(epochs):
            perm_p = th.randperm(len(obs_p), generator=generator)[:n]
            perm_r = th.randperm(len(obs_r), generator=generator)[:n]
            losses = []
            for start in range(0, n, batch_size):
                ip, ir = perm_p[start : start + batch_size], perm_r[start : start + batch_size]
                loss = (
                    F.softplus(-self(obs_p[ip], act_p[ip])).mean()
                    + F.softplus(self(obs_r[ir], act_r[ir])).mean()
                )
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        return float(sum(losses) / max(len(losses), 1))
