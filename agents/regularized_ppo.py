"""SB3's PPO update with one extra, weighted term in every minibatch loss.

SA-PPO (:mod:`advrl.agents.sappo`: the state-adversarial policy regulariser) and
:class:`~advrl.agents.lipschitz_critics.LipschitzPPO` (a Lipschitz penalty on ``V``) differ
from PPO only by ``loss += weight * regularizer(observations)``. SB3 has no hook for that, so
this module holds the one copy of SB3 2.x's ``PPO.train`` (advantage normalisation, value
clipping, target-KL early stop, gradient clipping, the same ``train/*`` logs) that both use.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.utils import explained_variance
from torch.nn import functional as F


class RegularizedPPO(PPO):
    """PPO whose minibatch loss is ``PPO loss + regularizer_weight * regularizer(obs)``.

    Subclasses define :meth:`regularizer` and :attr:`regularizer_weight`, name the logged
    term with :attr:`regularizer_log` (``train/<name>``), and may prepare per-update state in
    :meth:`_start_update` and record more in :meth:`_record_update`.
    """

    regularizer_log = "regularizer"

    @property
    @abstractmethod
    def regularizer_weight(self) -> float:
        """The weight of the regulariser in the loss."""

    @abstractmethod
    def regularizer(self, obs: th.Tensor) -> th.Tensor:
        """The unweighted regulariser (a scalar tensor) on a minibatch's observations."""

    def _start_update(self) -> None:
        """Called once at the start of each :meth:`train` (e.g. a ramped radius)."""

    def _record_update(self) -> None:
        """Called once at the end of each :meth:`train`, to record more logs."""

    def train(self) -> None:
        """SB3 2.x's ``PPO.train`` with ``regularizer_weight * regularizer`` in each loss."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        clip_range_vf = (
            None if self.clip_range_vf is None
            else self.clip_range_vf(self._current_progress_remaining)
        )  # fmt: skip
        self._start_update()
        weight = self.regularizer_weight
        logs: dict[str, list[float]] = {k: [] for k in ("pg", "value", "entropy", "clip", "reg")}
        approx_kl_divs: list[float] = []
        continue_training = True
        for _epoch in range(self.n_epochs):
            approx_kl_divs = []
            for batch in self.rollout_buffer.get(self.batch_size):
                actions = batch.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = actions.long().flatten()
                values, log_prob, entropy = self.policy.evaluate_actions(batch.observations,
                                                                         actions)  # fmt: skip
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
                reg = self.regularizer(batch.observations)
                loss = (
                    policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                    + weight * reg
                )  # fmt: skip
                logs["pg"].append(policy_loss.item())
                logs["value"].append(value_loss.item())
                logs["entropy"].append(entropy_loss.item())
                logs["clip"].append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                logs["reg"].append(reg.item())
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
        record(f"train/{self.regularizer_log}", np.mean(logs["reg"]))
        record("train/approx_kl", np.mean(approx_kl_divs))
        record("train/clip_fraction", np.mean(logs["clip"]))
        record("train/loss", loss.item())
        record("train/explained_variance", explained_var)
        if hasattr(self.policy, "log_std"):
            record("train/std", th.exp(self.policy.log_std).mean().item())
        record("train/n_updates", self._n_updates, exclude="tensorboard")
        record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            record("train/clip_range_vf", clip_range_vf)
        self._record_update()
