"""PPO with a Lipschitz-regularised critic: spectral norm, gradient penalty or adversarial noise."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO

from advrl.agents.lipschitz import local_lipschitz
from advrl.agents.lipschitz_critics.penalties import (
    PENALTIES,
    VALUE_SITES,
    adversarial_value_penalty,
    check_nonneg,
    check_value_gradient_path,
    value_fn,
    value_gradient_penalty,
)
from advrl.agents.lipschitz_critics.policy import LipschitzValuePolicy
from advrl.agents.regularized_ppo import RegularizedPPO


class LipschitzPPO(RegularizedPPO):
    """PPO whose value loss can carry a Lipschitz penalty on ``V``, and whose value net can
    be spectral-normalised; logs ``train/value_lipschitz`` (the largest ``||grad_s V(s)||``
    over up to ``lipschitz_batch`` rollout observations) after every update.

    ``loss = PPO loss + vf_coef * value_loss + penalty_coef * penalty`` on every minibatch,
    the penalty at the minibatch's observations:

    - ``value_penalty="gradient"``: :func:`value_gradient_penalty` (``gp_target``,
      ``gp_one_sided``, ``gp_site`` "data" or "policy_noise", ``gp_noise_std``);
    - ``value_penalty="adversarial"``: :func:`adversarial_value_penalty` (Zheng et al.
      2023's robust regulariser; ``adv_eps``, ``adv_steps`` PGD steps).

    Args:
        spectral_norm: spectral-normalise the value net (:class:`LipschitzValuePolicy`,
            which ``"MlpPolicy"`` names here); ``value_lipschitz`` bounds ``V``'s Lipschitz
            constant then.
        penalty_seed: seed of the penalties' randomness (PGD start, noise).
        **kwargs: :class:`stable_baselines3.PPO` arguments (``device=`` included).

    Raises:
        ValueError: an unknown penalty or site, a negative coefficient or radius, or a value
            net without a gradient path to the observation (found before any rollout).
        TypeError: spectral norm with a policy class that is not a LipschitzValuePolicy.

    Example:
        >>> import gymnasium as gym
        >>> model = LipschitzPPO("MlpPolicy", gym.make("CartPole-v1"), value_penalty="gradient",
        ...                      n_steps=64, batch_size=32, n_epochs=1,
        ...                      policy_kwargs=dict(net_arch=[8]))
        >>> _ = model.learn(64)
        >>> model.logger.name_to_value["train/value_lipschitz"] > 0
        True
    """

    policy_aliases = {**PPO.policy_aliases, "MlpPolicy": LipschitzValuePolicy}

    def __init__(
        self,
        policy: Any,
        env: Any,
        *,
        value_penalty: str | None = None,
        penalty_coef: float = 1.0,
        gp_target: float = 1.0,
        gp_one_sided: bool = True,
        gp_site: str = "data",
        gp_noise_std: float = 0.1,
        adv_eps: float = 0.1,
        adv_steps: int = 3,
        spectral_norm: bool = False,
        value_lipschitz: float = 1.0,
        lipschitz_batch: int = 1024,
        penalty_seed: int = 0,
        policy_kwargs: dict[str, Any] | None = None,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        # Every setting is checked before SB3 builds anything (envs, nets, buffers).
        if value_penalty is not None and value_penalty not in PENALTIES:
            raise ValueError(f"unknown value_penalty {value_penalty!r}; allowed: None, "
                             f"{', '.join(map(repr, PENALTIES))}")  # fmt: skip
        if gp_site not in VALUE_SITES:
            raise ValueError(f"unknown gp_site {gp_site!r}; allowed: {list(VALUE_SITES)}")
        if not isinstance(spectral_norm, bool) or not isinstance(gp_one_sided, bool):
            raise TypeError(f"spectral_norm and gp_one_sided must be bools, got "
                            f"{spectral_norm!r}, {gp_one_sided!r}")  # fmt: skip
        for name, value in (("penalty_coef", penalty_coef), ("gp_target", gp_target),
                            ("gp_noise_std", gp_noise_std), ("adv_eps", adv_eps)):  # fmt: skip
            check_nonneg(value, name)
        for name, value in (("adv_steps", adv_steps), ("lipschitz_batch", lipschitz_batch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        policy_kwargs = dict(policy_kwargs or {})
        if spectral_norm:
            cls = self.policy_aliases.get(policy, policy) if isinstance(policy, str) else policy
            if not (isinstance(cls, type) and issubclass(cls, LipschitzValuePolicy)):
                raise TypeError(f"spectral_norm needs a LipschitzValuePolicy (or 'MlpPolicy'), "
                                f"got {policy!r}")  # fmt: skip
            policy_kwargs.update(spectral_norm_value=True, value_lipschitz=value_lipschitz)
        self.value_penalty = value_penalty
        self.penalty_coef = float(penalty_coef)
        self.gp_target, self.gp_one_sided = float(gp_target), gp_one_sided
        self.gp_site, self.gp_noise_std = gp_site, float(gp_noise_std)
        self.adv_eps, self.adv_steps = float(adv_eps), adv_steps
        self.spectral_norm = spectral_norm
        self.lipschitz_batch = lipschitz_batch
        self.penalty_seed = penalty_seed
        super().__init__(policy, env, policy_kwargs=policy_kwargs,
                         _init_setup_model=_init_setup_model, **kwargs)  # fmt: skip

    def _setup_model(self) -> None:
        super()._setup_model()
        self._penalty_generator = th.Generator().manual_seed(self.penalty_seed)
        if not isinstance(self.observation_space, spaces.Box):
            if self.value_penalty is not None:
                raise TypeError(
                    "a value penalty needs a Box observation space (it "
                    f"differentiates V in s), got {self.observation_space}"
                )
            return
        # A probe batch: a net that ignores its input fails here, not after a rollout.
        probe = np.stack([self.observation_space.sample() for _ in range(2)])
        check_value_gradient_path(self.policy, self.policy.obs_to_tensor(probe)[0].float())

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_penalty_generator"]  # rebuilt on load

    def value_regularizer(self, obs: th.Tensor) -> th.Tensor:
        """The configured penalty on ``V`` at ``obs`` (``(batch, *obs_shape)``), unscaled."""
        v, g = value_fn(self.policy), self._penalty_generator
        if self.value_penalty == "gradient":
            return value_gradient_penalty(v, obs, target=self.gp_target,
                                          one_sided=self.gp_one_sided, site=self.gp_site,
                                          noise_std=self.gp_noise_std, generator=g)  # fmt: skip
        return adversarial_value_penalty(v, obs, eps=self.adv_eps, steps=self.adv_steps,
                                         generator=g)  # fmt: skip

    regularizer_log = "value_penalty"

    @property
    def regularizer_weight(self) -> float:
        return self.penalty_coef

    def regularizer(self, obs: th.Tensor) -> th.Tensor:
        return self.value_regularizer(obs)

    def train(self) -> None:
        if self.value_penalty is None:
            PPO.train(self)  # spectral norm lives in the net: SB3's own update, unchanged
        else:
            super().train()  # RegularizedPPO: penalty_coef * penalty in each minibatch loss
        self._log_lipschitz()

    def _log_lipschitz(self) -> None:
        if not isinstance(self.observation_space, spaces.Box):
            return
        obs = self.rollout_buffer.observations.reshape(-1, *self.observation_space.shape)
        obs = obs[np.linspace(0, len(obs) - 1, min(len(obs), self.lipschitz_batch)).astype(int)]
        self.policy.set_training_mode(False)  # no power iteration for a measurement
        estimate = local_lipschitz(value_fn(self.policy), self.policy.obs_to_tensor(obs)[0])
        self.logger.record("train/value_lipschitz", estimate)
