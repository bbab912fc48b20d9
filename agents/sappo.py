"""SA-PPO: PPO with the state-adversarial regulariser (Zhang et al. 2020), SGLD variant.

``loss = PPO loss + kappa * mean_s max_{s~ in B(s, eps)} sum((mu(s~) - mu(s)) / sigma)^2``
(:func:`advrl.agents.state_adversarial.sgld_max_state_kl`), with ``eps`` ramped linearly from
0 over the first 75% of training as the reference does. The regulariser acts on the
observations in the rollout buffer, i.e. in the policy's input space: under ``VecNormalize``
the normalised space, where the attacks' standard budgets live.
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution

from advrl.agents.regularized_ppo import RegularizedPPO
from advrl.agents.state_adversarial import ramped_eps, sgld_max_state_kl
from advrl.attacks.base import check_positive_int, check_real


class SAPPO(RegularizedPPO):
    """PPO whose policy loss carries the SA regulariser.

    Args:
        sa_kappa: regulariser weight (the reference's ``robust_ppo_reg``: 0.1 on Hopper,
            Walker2d and HalfCheetah).
        sa_eps: l_inf radius in the policy's input space (the env's standard eps).
        sa_steps: SGLD steps of the inner max (the reference: 10).
        sa_ramp: fraction of training over which eps grows from 0 (the reference: 0.75).
        sa_seed: seed of the SGLD noise.
        sa_horizon: env steps the ramp refers to (default: the current ``learn()`` call's
            total). Set it when training in several ``learn()`` calls, as ATLA does.
        **kwargs: :class:`stable_baselines3.PPO` arguments.

    Example:
        >>> import gymnasium as gym
        >>> model = SAPPO("MlpPolicy", gym.make("Pendulum-v1"), sa_eps=0.1, n_steps=64,
        ...               batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]))
        >>> _ = model.learn(64)
        >>> model.logger.name_to_value["train/sa_eps"] > 0
        True
    """

    def __init__(
        self,
        policy: Any,
        env: Any,
        *,
        sa_kappa: float = 0.1,
        sa_eps: float = 0.075,
        sa_steps: int = 10,
        sa_ramp: float = 0.75,
        sa_seed: int = 0,
        sa_horizon: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.sa_kappa = check_real(sa_kappa, "sa_kappa", "a finite number >= 0", lambda k: k >= 0)
        self.sa_eps = check_real(sa_eps, "sa_eps", "a finite number >= 0", lambda e: e >= 0)
        self.sa_steps = check_positive_int(sa_steps, "sa_steps")
        self.sa_ramp = check_real(sa_ramp, "sa_ramp", "a number in [0, 1]", lambda r: 0 <= r <= 1)
        self.sa_seed = sa_seed
        self.sa_horizon = (
            None if sa_horizon is None else check_positive_int(sa_horizon, "sa_horizon")
        )
        super().__init__(policy, env, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        if not isinstance(self.action_space, spaces.Box) or not isinstance(
            self.policy.action_dist, DiagGaussianDistribution
        ):
            raise TypeError(
                "SAPPO's regulariser needs a diagonal Gaussian policy on a Box action space "
                f"(no gSDE), got {self.action_space} with {type(self.policy.action_dist).__name__}"
            )
        self._sa_generator = th.Generator(device=self.device).manual_seed(self.sa_seed)

    def _policy_mean(self, obs: th.Tensor) -> th.Tensor:
        policy = self.policy
        features = policy.extract_features(obs, policy.pi_features_extractor)
        return policy.action_net(policy.mlp_extractor.forward_actor(features))

    def current_sa_eps(self) -> float:
        if self.sa_horizon is None:
            progress = 1.0 - self._current_progress_remaining
        else:
            progress = self.num_timesteps / self.sa_horizon
        return ramped_eps(self.sa_eps, progress, self.sa_ramp)

    regularizer_log = "sa_regularizer"

    @property
    def regularizer_weight(self) -> float:
        return self.sa_kappa

    def _start_update(self) -> None:
        self._eps_now = self.current_sa_eps()  # one radius for the whole update

    def regularizer(self, obs: th.Tensor) -> th.Tensor:
        return sgld_max_state_kl(
            self._policy_mean, obs, self.policy.log_std.exp(), self._eps_now, self.sa_steps,
            self._sa_generator,
        ).mean()  # fmt: skip

    def _record_update(self) -> None:
        self.logger.record("train/sa_eps", self._eps_now)
