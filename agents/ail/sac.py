"""Off-policy adversarial imitation: SB3 SAC on a discriminator reward learned online.

DAC / SAM style (Kostrikov et al. 2019; Blonde, Strasser & Kalousis 2022): the replay buffer
holds the env's transitions with their *true* reward; every sampled batch is relabelled
with the current discriminator's reward (the reference's "historical patching"), and the
discriminator is trained between SAC gradient steps on expert demonstrations against replay
transitions (``d_steps`` minibatches per gradient step).

SB3 is extended at its seams only: :class:`RelabelledReplayBuffer` (``replay_buffer_class``)
overrides ``_get_samples``; :class:`AdversarialSAC` overrides ``_setup_model`` and
``train``. The true return stays what SB3's ``Monitor`` logs (``rollout/ep_rew_mean``); the
discriminator's reward, losses and a local Lipschitz estimate go to ``ail/*``.

Not done: the reference's absorbing-state wrapping (``wrap_absorb``) and n-step returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

from advrl.agents.ail.demos import Demonstrations
from advrl.agents.ail.discriminator import (
    AILConfig,
    Discriminator,
    discriminator_loss,
    gail_reward,
    lipschitz_estimate,
)
from advrl.agents.lipschitz import gradient_norms

RewardFn = Callable[[th.Tensor, th.Tensor], th.Tensor]


class RelabelledReplayBuffer(ReplayBuffer):
    """A replay buffer whose samples carry ``reward_fn(obs, action)`` instead of the stored
    (true) reward; the stored rewards are never changed.

    ``reward_fn`` sees the raw stored observations (before any ``VecNormalize``) and the
    stored actions (SB3 stores them scaled to ``[-1, 1]``), and returns shape ``(batch,)``.

    Example:
        >>> import gymnasium as gym
        >>> box = gym.spaces.Box(-1, 1, (2,))
        >>> buf = RelabelledReplayBuffer(8, box, gym.spaces.Box(-1, 1, (1,)))
        >>> buf.reward_fn = lambda obs, act: obs.sum(dim=1)
        >>> buf.add(np.ones((1, 2)), np.ones((1, 2)), np.zeros((1, 1)), np.array([5.0]),
        ...         np.array([False]), [{}])
        >>> buf.sample(1).rewards.item(), buf.rewards[0, 0].item()
        (2.0, 5.0)
    """

    reward_fn: RewardFn | None = None

    def _get_samples(
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> ReplayBufferSamples:
        if self.reward_fn is None:
            raise ValueError("RelabelledReplayBuffer.reward_fn is not set; nothing to relabel")
        obs, actions, next_obs, dones = self._raw(batch_inds)
        with th.no_grad():
            rewards = self.reward_fn(self.to_torch(obs), self.to_torch(actions))
        data = (self._normalize_obs(obs, env), actions, self._normalize_obs(next_obs, env), dones)
        obs_t, act_t, next_t, done_t = map(self.to_torch, data)
        return ReplayBufferSamples(obs_t, act_t, next_t, done_t,
                                   rewards.reshape(-1, 1).to(obs_t.dtype))  # fmt: skip

    def sample_transitions(self, batch_size: int) -> tuple[th.Tensor, th.Tensor]:
        """Raw ``(obs, action)`` tensors of a uniform batch, for the discriminator."""
        upper = self.buffer_size if self.full else self.pos
        obs, actions, _, _ = self._raw(np.random.randint(0, upper, size=batch_size))
        return self.to_torch(obs).float(), self.to_torch(actions).float()

    def _raw(self, batch_inds: np.ndarray) -> tuple[np.ndarray, ...]:
        """Stored obs, actions, next obs and (timeout-masked) dones, as SB3 reads them."""
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        if self.optimize_memory_usage:
            next_obs = self.observations[(batch_inds + 1) % self.buffer_size, env_indices, :]
        else:
            next_obs = self.next_observations[batch_inds, env_indices, :]
        dones = self.dones[batch_inds, env_indices] * (1 - self.timeouts[batch_inds, env_indices])
        return (self.observations[batch_inds, env_indices, :],
                self.actions[batch_inds, env_indices, :], next_obs,
                dones.reshape(-1, 1))  # fmt: skip


class AdversarialSAC(SAC):
    """SAC that imitates demonstrations through a discriminator reward (DAC / SAM).

    Args:
        policy, env: as for :class:`stable_baselines3.SAC` (Box observations and actions).
        demonstrations: the expert's transitions, raw observations (may be None to load a
            saved model; :meth:`learn` then needs :meth:`set_demonstrations` first).
        ail: the discriminator's settings (:class:`AILConfig` or a dict of its fields).
        **kwargs: SAC's arguments (``device=``, ``seed=``, ``learning_starts=``, ...).

    Raises:
        ValueError: the demonstrations do not fit the env's spaces, the settings are
            invalid, or a SAC argument this learner sets itself is given.

    Example:
        >>> import gymnasium as gym
        >>> env = gym.make("Pendulum-v1")
        >>> demos = Demonstrations(np.zeros((4, 3)), np.zeros((4, 1)), np.zeros((4, 3)),
        ...                        np.zeros(4))
        >>> model = AdversarialSAC("MlpPolicy", env, demos, learning_starts=8, seed=0,
        ...                        policy_kwargs={"net_arch": [8]}, device="cpu")
        >>> _ = model.learn(16)
        >>> sorted(k for k in model.logger.name_to_value if k.startswith("ail/"))[:2]
        ['ail/bce', 'ail/entropy']
    """

    def __init__(
        self,
        policy: Any,
        env: Any,
        demonstrations: Demonstrations | None = None,
        ail: AILConfig | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        for name in ("replay_buffer_class", "replay_buffer_kwargs"):
            if kwargs.get(name) is not None:
                raise ValueError(f"AdversarialSAC sets {name} itself (its relabelling "
                                 f"buffer); got {kwargs[name]!r}")  # fmt: skip
        if kwargs.get("n_steps", 1) != 1:
            raise ValueError(f"AdversarialSAC supports n_steps=1 only, got {kwargs['n_steps']!r}")
        if demonstrations is not None and not isinstance(demonstrations, Demonstrations):
            raise TypeError(f"demonstrations must be Demonstrations, got "
                            f"{type(demonstrations).__name__}")  # fmt: skip
        config = ail if isinstance(ail, AILConfig) else AILConfig(**(ail or {}))
        self.ail_config = config.to_dict()  # JSON in SB3's zip; rebuilt by _setup_model
        self.demonstrations = demonstrations
        kwargs["replay_buffer_class"] = RelabelledReplayBuffer
        super().__init__(policy, env, **kwargs)

    # -- SB3 seams -------------------------------------------------------------------------

    def _setup_model(self) -> None:
        super()._setup_model()
        cfg = AILConfig(**self.ail_config)
        obs_dim = int(np.prod(self.observation_space.shape))
        act_dim = int(np.prod(self.action_space.shape))
        self.discriminator = Discriminator(obs_dim, act_dim, cfg.hidden, cfg.spectral_norm,
                                           cfg.input_clip).to(self.device)  # fmt: skip
        self.disc_optimizer = th.optim.Adam(self.discriminator.parameters(), lr=cfg.lr)
        self._disc_gen = th.Generator(device=self.device)
        self._disc_gen.manual_seed(0 if self.seed is None else int(self.seed))
        self._disc_updates = 0
        self.lipschitz_log: list[tuple[int, float]] = []  # (env step, estimate), for reports
        self.replay_buffer.reward_fn = self.reward
        self._expert: tuple[th.Tensor, th.Tensor] | None = None
        if self.demonstrations is not None:
            self.set_demonstrations(self.demonstrations)

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, tensors = super()._get_torch_save_params()
        return [*state_dicts, "discriminator", "disc_optimizer"], tensors

    def _excluded_save_params(self) -> list[str]:
        # demonstrations are data, not model state: pass them again to continue training
        return [*super()._excluded_save_params(), "demonstrations", "discriminator",
                "disc_optimizer", "_disc_gen", "_expert", "lipschitz_log"]  # fmt: skip

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self._train_discriminator(gradient_steps * AILConfig(**self.ail_config).d_steps)
        super().train(gradient_steps, batch_size)

    def learn(self, *args: Any, **kwargs: Any):
        if self._expert is None:
            raise ValueError("AdversarialSAC has no demonstrations: pass them to the "
                             "constructor or call set_demonstrations() before learn()")  # fmt: skip
        return super().learn(*args, **kwargs)

    # -- imitation -------------------------------------------------------------------------

    def set_demonstrations(self, demonstrations: Demonstrations) -> None:
        """Use these expert transitions (checked against the env's spaces, then preflighted:
        the discriminator must give finite scores with a gradient path on them)."""
        if not isinstance(demonstrations, Demonstrations):
            raise TypeError(f"demonstrations must be Demonstrations, got "
                            f"{type(demonstrations).__name__}")  # fmt: skip
        demonstrations.check_spaces(self.observation_space, self.action_space)
        obs = th.as_tensor(demonstrations.obs, device=self.device).flatten(1)
        # SB3 stores actions scaled to [-1, 1]; the expert's must live in the same space
        act = th.as_tensor(self.policy.scale_action(demonstrations.actions), device=self.device,
                           dtype=th.float32).flatten(1)  # fmt: skip
        self._check_discriminator(obs[:2], act[:2])
        self.demonstrations, self._expert = demonstrations, (obs, act)

    def _check_discriminator(self, obs: th.Tensor, act: th.Tensor) -> None:
        scores = self.discriminator(obs, act)
        if scores.shape != (len(obs),) or not th.isfinite(scores).all():
            raise ValueError(f"the discriminator must give finite scores of shape "
                             f"({len(obs)},), got {tuple(scores.shape)}")  # fmt: skip
        if AILConfig(**self.ail_config).grad_pen:
            gradient_norms(self.discriminator, (obs, act), create_graph=False)  # raises

    def reward(self, obs: th.Tensor, action: th.Tensor) -> th.Tensor:
        """The imitation reward ``-log(1 - sigmoid(D(obs, action)) + 1e-8)``, shape
        ``(batch,)``, for raw ``obs`` and SB3-scaled ``action``."""
        self.discriminator.eval()  # no spectral-norm power iteration while relabelling
        try:
            with th.no_grad():
                scores = self.discriminator(obs.flatten(1).float(), action.flatten(1).float())
                return gail_reward(scores)
        finally:
            self.discriminator.train()

    def _train_discriminator(self, updates: int) -> None:
        assert self._expert is not None  # learn() checked
        cfg = AILConfig(**self.ail_config)
        e_obs, e_act = self._expert
        size = min(cfg.batch_size, len(e_obs))  # the reference's min(len(demos), batch)
        logs: dict[str, list[float]] = {}
        self.discriminator.train()
        for _ in range(updates):
            idx = th.randint(len(e_obs), (size,), generator=self._disc_gen, device=self.device)
            expert = (e_obs[idx], e_act[idx])
            policy = self.replay_buffer.sample_transitions(size)
            loss, metrics = discriminator_loss(self.discriminator, expert, policy, cfg,
                                               generator=self._disc_gen)  # fmt: skip
            self.disc_optimizer.zero_grad()
            loss.backward()
            self.disc_optimizer.step()
            metrics["loss"] = loss.item()
            self._disc_updates += 1
            if self._disc_updates % cfg.lipschitz_every == 1 or cfg.lipschitz_every == 1:
                metrics["lipschitz"] = lipschitz_estimate(self.discriminator, expert, policy)
                self.lipschitz_log.append((self.num_timesteps, metrics["lipschitz"]))
                metrics["reward_expert"] = float(self.reward(*expert).mean())
                metrics["reward_policy"] = float(self.reward(*policy).mean())
            for k, v in metrics.items():
                logs.setdefault(k, []).append(v)
        for k, v in logs.items():
            self.logger.record(f"ail/{k}", float(np.mean(v)))
        self.logger.record("ail/n_updates", self._disc_updates)
