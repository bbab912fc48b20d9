"""An SB3 actor-critic policy whose value net is spectral-normalised (the actor is not)."""

from __future__ import annotations

from typing import Any

import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from advrl.agents.lipschitz import spectral_normalize
from advrl.agents.lipschitz_critics.penalties import check_nonneg


class _Scale(nn.Module):
    """Multiplies by a constant: a 1-Lipschitz net times ``k`` is ``k``-Lipschitz."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: th.Tensor) -> th.Tensor:
        return self.k * x

    def extra_repr(self) -> str:
        return f"k={self.k}"


class LipschitzValuePolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` whose value net can be spectral-normalised; the actor is not.

    With ``spectral_norm_value`` every linear layer of the value path (its MLP and the
    value head) is spectral-normalised, so with tanh / ReLU activations ``V`` is
    ``value_lipschitz``-Lipschitz in the observation (the head's output is scaled by it;
    biases stay free, so ``V``'s level is unconstrained). Save/load round-trips: both
    settings are constructor parameters.

    Example:
        >>> import gymnasium as gym
        >>> from stable_baselines3 import PPO
        >>> model = PPO(LipschitzValuePolicy, gym.make("CartPole-v1"), n_steps=64,
        ...             policy_kwargs=dict(spectral_norm_value=True, net_arch=[8]))
        >>> from advrl.agents.lipschitz import is_spectral_normalized
        >>> is_spectral_normalized(model.policy.value_net), model.policy.action_net
        (True, Linear(in_features=8, out_features=2, bias=True))
    """

    def __init__(
        self, *args: Any, spectral_norm_value: bool = False, value_lipschitz: float = 1.0,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        if not isinstance(spectral_norm_value, bool):
            raise TypeError(f"spectral_norm_value must be a bool, got {spectral_norm_value!r}")
        value_lipschitz = check_nonneg(value_lipschitz, "value_lipschitz")
        if value_lipschitz == 0:
            raise ValueError("value_lipschitz must be > 0 (0 makes V constant), got 0")
        self.spectral_norm_value = spectral_norm_value
        self.value_lipschitz = value_lipschitz
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        if not self.spectral_norm_value:
            return
        if self.share_features_extractor and any(
            isinstance(m, nn.Linear) for m in self.features_extractor.modules()
        ):
            raise ValueError(
                "spectral_norm_value needs a features extractor without linear layers or "
                "share_features_extractor=False: normalising a shared one would change the actor"
            )
        if not self.share_features_extractor and any(
            isinstance(m, nn.Linear) for m in self.vf_features_extractor.modules()
        ):
            spectral_normalize(self.vf_features_extractor)
        if any(isinstance(m, nn.Linear) for m in self.mlp_extractor.value_net.modules()):
            spectral_normalize(self.mlp_extractor.value_net)
        spectral_normalize(self.value_net)
        self.value_net = nn.Sequential(self.value_net, _Scale(self.value_lipschitz))
        # The parametrisation keeps each weight's Parameter object (as ``.original``), so
        # the optimizer built by super()._build already holds them; rebuilt for clarity.
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1),
                                              **self.optimizer_kwargs)  # fmt: skip

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(spectral_norm_value=self.spectral_norm_value,
                    value_lipschitz=self.value_lipschitz)  # fmt: skip
        return data
