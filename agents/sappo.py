"""SA-PPO: PPO with the state-adversarial regulariser (Zhang et al. 2020), SGLD variant.

``loss = PPO loss + kappa * mean_s max_{s~ in B(s, eps)} sum((mu(s~) - mu(s)) / sigma)^2``
(:func:`advrl.agents.state_adversarial.sgld_max_state_kl`), with ``eps`` ramped linearly from
0 over the first 75% of training as the reference does. The regulariser acts on the
observations in the rollout buffer, i.e. in the policy's input space: under ``VecNormalize``
the normalised space, where the attacks' standard budgets live.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.utils import explained_variance
from torch.nn import functional as F

from advrl.agents.state_adversarial import ramped_eps, sgld_max_state_kl
from advrl.attacks.base import check_positive_int, check_real


class SAPPO(PPO):
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

    def train(self) -> None:
        """SB3's PPO update, with ``sa_kappa * regulariser`` added to each minibatch loss."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        clip_range_vf = (
            None if self.clip_range_vf is None
            else self.clip_range_vf(self._current_progress_remaining)
        )  # fmt: skip
        eps = self.current_sa_eps()
        logs: dict[str, list[float]] = {k: [] for k in ("pg", "value", "entropy", "clip", "sa")}
        approx_kl_divs: list[float] = []
        continue_training = True
        for _epoch in range(self.n_epochs):
            approx_kl_divs = []
            for batch in self.rollout_buffer.get(self.batch_size):
                values, log_prob, entropy = self.policy.evaluate_actions(
                    batch.observations, batch.actions
                )
                values = values.flatten()
                advantages = batch.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = th.exp(log_prob - batch.old_log_prob)
                policy_loss = -th.min(
                    advantages * ratio, advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                ).mean()
                if clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = batch.old_values + th.clamp(
                        values - batch.old_values, -clip_range_vf, clip_range_vf
                    )
                value_loss = F.mse_loss(batch.returns, values_pred)
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                sa_reg = sgld_max_state_kl(
                    self._policy_mean, batch.observations, self.policy.log_std.exp(), eps,
                    self.sa_steps, self._sa_generator,
                ).mean()  # fmt: skip
                loss = (
                    policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                    + self.sa_kappa * sa_reg
                )  # fmt: skip
                logs["pg"].append(policy_loss.item())
                logs["value"].append(value_loss.item())
                logs["entropy"].append(entropy_loss.item())
                logs["clip"].append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                logs["sa"].append(sa_reg.item())
                with th.no_grad():
                    log_ratio = log_prob - batch.old_log_prob
                    approx_kl = th.mean((th.exp(log_ratio) - 1) - log_ratio).item()
                    approx_kl_divs.append(approx_kl)
                if self.target_kl is not None and approx_kl > 1.5 * self.target_kl:
                    continue_training = False
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        explained_var = explained_variance(
            self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()
        )
        record = self.logger.record
        record("train/entropy_loss", np.mean(logs["entropy"]))
        record("train/policy_gradient_loss", np.mean(logs["pg"]))
        record("train/value_loss", np.mean(logs["value"]))
        record("train/approx_kl", np.mean(approx_kl_divs))
        record("train/clip_fraction", np.mean(logs["clip"]))
        record("train/loss", loss.item())
        record("train/explained_variance", explained_var)
        record("train/std", th.exp(self.policy.log_std).mean().item())
        record("train/sa_regularizer", np.mean(logs["sa"]))
        record("train/sa_eps", eps)
        record("train/n_updates", self._n_updates, exclude="tensorboard")
        record("train/clip_range", clip_range)
