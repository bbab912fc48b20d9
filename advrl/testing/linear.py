"""A linear TorchPolicy with closed-form worst cases."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch as th


class LinearPolicy:
    """``a(x) = W x + b`` (continuous) or ``logits(x) = W x + b`` (discrete).

    For a continuous policy with one action row ``w``, the action deviation
    ``(w . delta)^2`` over the l_inf ball of radius eps peaks at ``(eps * |w|_1)^2``
    (delta = eps sign(w)) and over the l_2 ball at ``(eps * |w|_2)^2``.

    Args:
        weight: shape (n_out, obs_dim); observations are flattened before the product.
        bias: shape (n_out,), default zeros.
        discrete: rows are action logits (Discrete(n_out)) instead of action dimensions.
        value_weight: shape (obs_dim,); ``value(x) = value_weight . x``; None: no critic.
        std: per-dimension std of a stochastic continuous policy, shape (n_out,).
        obs_shape: observation shape (default ``(obs_dim,)``); its size must be obs_dim.

    Example:
        >>> policy = LinearPolicy(th.tensor([[1.0, 2.0]]))
        >>> policy.action(th.tensor([[1.0, 1.0]])).tolist()
        [[3.0]]
    """

    def __init__(
        self,
        weight: th.Tensor,
        bias: th.Tensor | None = None,
        *,
        discrete: bool = False,
        value_weight: th.Tensor | None = None,
        std: th.Tensor | None = None,
        obs_shape: tuple[int, ...] | None = None,
    ) -> None:
        if weight.ndim != 2:
            raise ValueError(f"weight must have shape (n_out, obs_dim), got {tuple(weight.shape)}")
        n_out, obs_dim = weight.shape
        self.weight = weight.float()
        self.bias = th.zeros(n_out) if bias is None else bias.float()
        self.value_weight = None if value_weight is None else value_weight.float()
        self.std = None if std is None else std.float()
        obs_shape = (obs_dim,) if obs_shape is None else tuple(obs_shape)
        if int(np.prod(obs_shape)) != obs_dim:
            raise ValueError(f"obs_shape {obs_shape} does not have {obs_dim} elements")
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, obs_shape, np.float32)
        self.action_space: gym.spaces.Space = (
            gym.spaces.Discrete(n_out)
            if discrete
            else gym.spaces.Box(-np.inf, np.inf, (n_out,), np.float32)
        )
        self.device = th.device("cpu")

    @property
    def is_discrete(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    def normalize(self, raw_obs: th.Tensor) -> th.Tensor:
        return raw_obs

    def unnormalize(self, obs: th.Tensor) -> th.Tensor:
        return obs

    def _linear(self, obs: th.Tensor) -> th.Tensor:
        flat = obs.reshape(obs.shape[0], -1).to(self.weight.dtype)
        return flat @ self.weight.T + self.bias

    def action(self, obs: th.Tensor) -> th.Tensor:
        out = self._linear(obs)
        return out.argmax(dim=-1) if self.is_discrete else out

    def action_logits(self, obs: th.Tensor) -> th.Tensor | None:
        return self._linear(obs) if self.is_discrete else None

    def action_std(self, obs: th.Tensor) -> th.Tensor | None:
        if self.std is None or self.is_discrete:
            return None
        return self.std.expand(obs.shape[0], -1)

    def value(self, obs: th.Tensor) -> th.Tensor | None:
        if self.value_weight is None:
            return None
        return obs.reshape(obs.shape[0], -1).to(self.value_weight.dtype) @ self.value_weight
