"""The action-distribution baseline: PPO + coef / (1 - gamma) * D(pi(.|s) || pi_ref(.|s)).

ORPO's comparison point (Laidlaw et al. 2024): regularise the policy's *action
distribution* towards the reference's at the visited states, with the divergence in closed
form (KL, chi^2 or sqrt chi^2; categorical or diagonal Gaussian), instead of the occupancy
measure. Conventions follow the authors' code (cassidylaidlaw/orpo,
``occupancy_measures/agents/orpo.py``, ``ORPOPolicy.loss``):

- the coefficient is multiplied by the horizon ``1 / (1 - gamma)`` (``gamma_scaling``), so
  a coefficient means the same on the per-step action divergence as on the occupancy
  measure, whose divergence is bounded by the horizon times it (``horizon_scaling=False``
  gives the unscaled coefficient);
- where chi^2 diverges (a Gaussian with ``var_pi >= 2 var_ref``) the KL is optimised
  instead, and ``sqrt_chi2`` is ``sqrt(max(chi2, 1e-4))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3 import PPO

from advrl.agents.orpo.divergences import (
    categorical_chi2_or_kl,
    categorical_kl,
    gaussian_chi2_or_kl,
    gaussian_kl,
)

ACTION_DIVERGENCES = ("kl", "chi2", "sqrt_chi2")
# The reference's floor under chi^2 before the square root (its gradient is infinite at 0).
SQRT_CHI2_FLOOR = 1e-4


class ActionKLPPO(PPO):
    """SB3 PPO whose loss adds ``coef / (1 - gamma) * E_s[D(pi(.|s) || pi_ref(.|s))]`` on
    each minibatch.

    Args:
        reference: an object with ``action_logits(raw_obs)`` (discrete; e.g.
            :class:`~advrl.agents.orpo.reference.EpsilonReference`) or a TorchPolicy
            (continuous: ``action`` and ``action_std`` of normalised inputs).
        divergence: ``"kl"``, ``"chi2"`` (KL where chi^2 diverges) or ``"sqrt_chi2"``.
        coef: >= 0.
        horizon_scaling: multiply ``coef`` by ``1 / (1 - gamma)`` as the reference does
            (default). ``False`` uses ``coef`` as is (advrl 0.1's convention, 100x weaker at
            gamma 0.99). :attr:`effective_coef` is the weight the loss uses.
        **kwargs: SB3 PPO's arguments. The observations PPO stores must be the raw ones the
            reference expects (no VecNormalize around the training env).

    Example:
        >>> import advrl.zoo
        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> from advrl.agents.orpo.reference import EpsilonReference
        >>> ref = EpsilonReference(advrl.zoo.load("ppo-cartpole").torch_policy(), 0.1)
        >>> model = ActionKLPPO("MlpPolicy", make_vec_env("CartPole-v1", 2), reference=ref,
        ...                     coef=0.5, n_steps=32, batch_size=32, n_epochs=1)
        >>> model.learn(64).num_timesteps
        64
    """

    def __init__(
        self,
        policy: Any,
        env: Any,
        *,
        reference: Any = None,
        divergence: str = "kl",
        coef: float = 0.1,
        horizon_scaling: bool = True,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        if divergence not in ACTION_DIVERGENCES:
            raise ValueError(
                f"unknown divergence {divergence!r}; allowed: {list(ACTION_DIVERGENCES)}"
            )
        if not np.isfinite(coef) or coef < 0:
            raise ValueError(f"coef must be a finite number >= 0, got {coef!r}")
        if not isinstance(horizon_scaling, bool):
            raise TypeError(f"horizon_scaling must be True or False, got {horizon_scaling!r}")
        self.reference, self.divergence, self.coef = reference, divergence, float(coef)
        self.horizon_scaling = horizon_scaling
        super().__init__(policy, env, _init_setup_model=_init_setup_model, **kwargs)

    @property
    def effective_coef(self) -> float:
        """The divergence's weight in the loss: ``coef / (1 - gamma)`` with horizon scaling."""
        return self.coef / (1.0 - self.gamma) if self.horizon_scaling else self.coef

    def action_divergence(self, obs: th.Tensor) -> th.Tensor:
        """Per-state ``D(pi || pi_ref)``, shape (batch,), differentiable in the policy."""
        dist = self.policy.get_distribution(obs).distribution
        with th.no_grad():
            if isinstance(self.action_space, spaces.Discrete):
                ref_logits = self.reference.action_logits(obs)
            else:
                z = self.reference.normalize(obs)
                ref_mean, ref_std = self.reference.action(z), self.reference.action_std(z)
        if isinstance(self.action_space, spaces.Discrete):
            fn = categorical_kl if self.divergence == "kl" else categorical_chi2_or_kl
            value = fn(dist.logits, ref_logits)
        else:
            fn = gaussian_kl if self.divergence == "kl" else gaussian_chi2_or_kl
            value = fn(dist.mean, dist.stddev, ref_mean, ref_std)
        if self.divergence == "sqrt_chi2":
            value = value.clamp(min=SQRT_CHI2_FLOOR).sqrt()
        return value

    def train(self) -> None:
        """PPO's clipped update (SB3 semantics: advantage normalisation, value clipping,
        target-KL early stop, gradient clipping) with the divergence term added."""
        if self.reference is None:
            raise RuntimeError("ActionKLPPO has no reference policy; pass reference=")
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip = self.clip_range(self._current_progress_remaining)
        clip_vf = (
            None
            if self.clip_range_vf is None
            else self.clip_range_vf(self._current_progress_remaining)
        )
        stats: dict[str, list[float]] = {"policy": [], "value": [], "entropy": [], "divergence": []}
        for _ in range(self.n_epochs):
            stop = False
            for batch in self.rollout_buffer.get(self.batch_size):
                actions = batch.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = actions.long().flatten()
                values, log_prob, entropy = self.policy.evaluate_actions(
                    batch.observations, actions
                )
                advantages = batch.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = th.exp(log_prob - batch.old_log_prob)
                policy_loss = -th.min(
                    advantages * ratio, advantages * th.clamp(ratio, 1 - clip, 1 + clip)
                ).mean()
                values = values.flatten()
                if clip_vf is not None:
                    values = batch.old_values + th.clamp(
                        values - batch.old_values, -clip_vf, clip_vf
                    )
                value_loss = F.mse_loss(batch.returns, values)
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                divergence = self.action_divergence(batch.observations).mean()
                loss = (policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                        + self.effective_coef * divergence)  # fmt: skip
                with th.no_grad():
                    log_ratio = log_prob - batch.old_log_prob
                    approx_kl = float(th.mean(th.exp(log_ratio) - 1 - log_ratio))
                if self.target_kl is not None and approx_kl > 1.5 * self.target_kl:
                    stop = True
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
                terms = {"policy": policy_loss, "value": value_loss, "entropy": entropy_loss,
                         "divergence": divergence}  # fmt: skip
                for key, value in terms.items():
                    stats[key].append(value.item())
            self._n_updates += 1
            if stop:
                break
        for key, values in stats.items():
            if values:
                self.logger.record(f"train/{key}_loss", float(np.mean(values)))

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "reference"]
