"""TemperatureSAC: SAC whose entropy temperature is read from each sample's observation."""

from __future__ import annotations

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3 import SAC
from stable_baselines3.common.utils import polyak_update


class TemperatureSAC(SAC):
    """SAC with a per-sample entropy temperature ``alpha = obs[..., -1]`` (never learned).

    QARL's adversary plays with a temperature drawn per episode and appended to its
    observation; every soft-Bellman target and actor loss uses the sample's own alpha.
    The observation must not be normalised (alpha is read as is).
    """

    def __init__(self, policy, env, **kwargs) -> None:
        kwargs["ent_coef"] = 0.0  # unused: the temperature comes from the observation
        super().__init__(policy, env, **kwargs)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        actor_losses, critic_losses, alphas = [], [], []
        for gradient_step in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = data.discounts if data.discounts is not None else self.gamma
            alpha = data.observations[:, -1:].clamp(min=0.0)
            next_alpha = data.next_observations[:, -1:].clamp(min=0.0)
            alphas.append(float(alpha.mean()))
            actions_pi, log_prob = self.actor.action_log_prob(data.observations)
            with th.no_grad():
                next_actions, next_log_prob = self.actor.action_log_prob(data.next_observations)
                next_q = th.cat(self.critic_target(data.next_observations, next_actions), dim=1)
                next_q = next_q.min(dim=1, keepdim=True).values
                next_q = next_q - next_alpha * next_log_prob.reshape(-1, 1)
                target_q = data.rewards + (1 - data.dones) * discounts * next_q
            current_q = self.critic(data.observations, data.actions)
            critic_loss = 0.5 * sum(F.mse_loss(q, target_q) for q in current_q)
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()
            critic_losses.append(critic_loss.item())

            q_pi = th.cat(self.critic(data.observations, actions_pi), dim=1)
            actor_loss = (
                alpha * log_prob.reshape(-1, 1) - q_pi.min(dim=1, keepdim=True).values
            ).mean()
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()
            actor_losses.append(actor_loss.item())

            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/temperature", np.mean(alphas))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
