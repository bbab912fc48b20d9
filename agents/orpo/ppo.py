"""ORPO as an SB3 PPO subclass (Laidlaw, Singhal & Dragan 2024).

Each iteration: collect the policy's rollout, roll out the reference policy for as many
steps in its own env, train the discriminator to tell the two apart, replace every reward
by ``r_proxy - coef * penalty(d(s, a))`` (the penalty term optionally clipped), recompute
GAE, then the usual PPO update. Only ``collect_rollouts`` is extended; the PPO update is SB3's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from advrl.agents.orpo.discriminator import Discriminator
from advrl.agents.orpo.divergences import (
    check_divergence,
    chi2_estimate,
    occupancy_penalty,
    penalised_reward,
)


class ORPO(PPO):
    """PPO regularised towards a reference policy's occupancy measure.

    Args:
        policy, env: as for SB3 PPO (``env`` returns the proxy reward).
        reference: the reference (safe) policy, an SB3 model with the same spaces.
        reference_env: a VecEnv of the same task for the reference's rollouts.
        divergence: ``"kl"``, ``"chi2"``, ``"sqrt_chi2"`` (default) or ``"tv"``.
        coef: penalty coefficient (paper: a multiple of the reference reward's std).
        reward_clip: clip the penalty term ``coef * penalty`` to ``[-reward_clip,
            reward_clip]`` (None: off); the proxy reward is never clipped (the reference's
            ``discriminator_reward_clip``). Use it on continuous tasks: without it a policy
            far from a narrow reference gets penalties that swamp the proxy
            (HalfCheetahUpright, BENCHMARKS.md).
        trim: trimmed fraction for the ``sqrt_chi2`` normaliser (1%).
        discriminator_epochs, discriminator_kwargs: discriminator training settings.
        **kwargs: the rest of SB3 PPO's arguments.

    Example:
        >>> import gymnasium as gym
        >>> from stable_baselines3 import PPO
        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> ref = PPO("MlpPolicy", gym.make("CartPole-v1"), policy_kwargs=dict(net_arch=[8]))
        >>> model = ORPO("MlpPolicy", make_vec_env("CartPole-v1", 2), reference=ref,
        ...              reference_env=make_vec_env("CartPole-v1", 2), coef=0.1, n_steps=32,
        ...              batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]),
        ...              discriminator_kwargs=dict(hidden=(16,)))
        >>> model.learn(64).num_timesteps
        64
    """

    def __init__(
        self,
        policy: Any,
        env: Any,
        *,
        reference: BaseAlgorithm | None = None,
        reference_env: VecEnv | None = None,
        divergence: str = "sqrt_chi2",
        coef: float = 0.1,
        reward_clip: float | None = None,
        trim: float = 0.01,
        discriminator_epochs: int = 1,
        discriminator_kwargs: dict[str, Any] | None = None,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        self.divergence = check_divergence(divergence)
        if not np.isfinite(coef) or coef < 0:
            raise ValueError(f"coef must be a finite number >= 0, got {coef!r}")
        if reward_clip is not None and not (np.isfinite(reward_clip) and reward_clip > 0):
            raise ValueError(
                f"reward_clip must be a finite number > 0 or None, got {reward_clip!r}"
            )
        self.coef, self.reward_clip, self.trim = float(coef), reward_clip, trim
        self.discriminator_epochs = discriminator_epochs
        self.discriminator_kwargs = discriminator_kwargs or {}
        self.reference: BaseAlgorithm | None = None
        self.reference_env: VecEnv | None = None
        super().__init__(policy, env, _init_setup_model=_init_setup_model, **kwargs)
        if reference is not None:
            self.set_reference(reference, reference_env)

    def _setup_model(self) -> None:
        super()._setup_model()
        self.discriminator = Discriminator(
            self.observation_space, self.action_space, device=self.device,
            **self.discriminator_kwargs,
        )  # fmt: skip

    def set_reference(self, reference: BaseAlgorithm, reference_env: VecEnv | None) -> None:
        """Attach the reference policy and the env it acts in (not saved with the model)."""
        if reference_env is None:
            raise ValueError("reference_env is required: a VecEnv of the same task")
        for name in ("observation_space", "action_space"):
            mine, theirs = getattr(self, name), getattr(reference, name)
            if mine != theirs:
                raise ValueError(f"reference policy's {name} {theirs} does not match {mine}")
        if reference_env.observation_space != self.observation_space:
            raise ValueError(
                f"reference_env's observation_space {reference_env.observation_space} "
                f"does not match {self.observation_space}"
            )
        self.reference, self.reference_env = reference, reference_env
        self._reference_obs = reference_env.reset()

    def _reference_samples(self, n: int) -> tuple[th.Tensor, th.Tensor]:
        """``n`` (obs, action) pairs from the reference policy acting in its env."""
        obs_list, act_list = [], []
        while sum(len(o) for o in obs_list) < n:
            actions, _ = self.reference.predict(self._reference_obs, deterministic=False)
            obs_list.append(self._reference_obs)
            act_list.append(actions)
            self._reference_obs, _, _, _ = self.reference_env.step(actions)
        obs = np.concatenate(obs_list)[:n]
        act = np.concatenate(act_list)[:n].reshape(n, -1)
        return th.as_tensor(obs, device=self.device), th.as_tensor(act, device=self.device)

    def collect_rollouts(self, env, callback, rollout_buffer, n_rollout_steps: int) -> bool:
        if self.reference is None:
            raise RuntimeError("ORPO has no reference policy; call set_reference() first")
        if not super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps):
            return False
        self._penalise(rollout_buffer)
        return True

    def _penalise(self, buffer) -> None:
        shape = buffer.rewards.shape  # (n_steps, n_envs)
        obs = th.as_tensor(buffer.observations.reshape(-1, *self.observation_space.shape),
                           device=self.device)  # fmt: skip
        actions = th.as_tensor(buffer.actions.reshape(obs.shape[0], -1), device=self.device)
        reference = self._reference_samples(obs.shape[0])
        loss = self.discriminator.fit((obs, actions), reference, epochs=self.discriminator_epochs)
        with th.no_grad():
            d = self.discriminator(obs, actions)
            penalty = occupancy_penalty(d, self.divergence, self.trim)
            rewards = th.as_tensor(buffer.rewards.reshape(-1), device=self.device)
            new = penalised_reward(rewards, penalty, self.coef, self.reward_clip)
            buffer.rewards[:] = new.cpu().numpy().reshape(shape)
            last_values = self.policy.predict_values(obs_as_tensor(self._last_obs, self.device))
        # SB3 computed GAE on the proxy rewards; redo it on the penalised ones.
        buffer.compute_returns_and_advantage(
            last_values=last_values, dones=self._last_episode_starts
        )
        self.logger.record("orpo/discriminator_loss", loss)
        self.logger.record("orpo/penalty_mean", float(penalty.mean()))
        self.logger.record("orpo/chi2_estimate", float(chi2_estimate(d, self.trim)))

    def _excluded_save_params(self) -> list[str]:
        # The reference and its env belong to the user; the discriminator is saved as weights.
        return [*super()._excluded_save_params(), "reference", "reference_env", "_reference_obs",
                "discriminator"]  # fmt: skip

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, tensors = super()._get_torch_save_params()
        return [*state_dicts, "discriminator", "discriminator.optimizer"], tensors
