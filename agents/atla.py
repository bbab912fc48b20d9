"""ATLA-PPO: train the victim against a learned optimal adversary that trains against it
(Zhang et al. 2021, "Robust RL on State Observations with Learned Optimal Adversary",
`huanzhang12/ATLA_robust_RL`).

Two SB3 PPO learners alternate, one rollout each per iteration (the reference's
``adv_policy_steps = adv_adversary_steps = 1``), as :class:`~advrl.agents.rarl.RARL` does:

- the **victim** trains on ``VecPerturbObservation(VecNormalize(task))``: every observation
  it sees (and learns from, the reference's ``collect_perturbed_states``) is the normalised
  one plus the adversary's sampled perturbation, ``eps * clip(a, -1, 1)``;
- the **adversary** trains on :class:`~advrl.attacks.learned.ObservationAdversaryEnv` against
  the victim's current weights and normaliser statistics (refreshed after each victim phase),
  rewarded with minus the victim's reward.

``sa_kappa > 0`` makes the victim an :class:`~advrl.agents.sappo.SAPPO` (the reference's best
variant, "ATLA-SA-PPO"; it also uses an LSTM policy, which we do not). The reference's
adversary settings are its Walker2d ones for every env (lr 1e-3, entropy 1e-5); the reference
uses lr 3e-3 on Hopper and HalfCheetah, one Adam per network and its own PPO: pass
``adversary_kwargs`` to match it per env.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from advrl.agents.sappo import SAPPO
from advrl.attacks.base import check_positive_int, check_real
from advrl.attacks.learned.adversary_env import ObservationAdversaryEnv, VecObservationAdversary
from advrl.attacks.learned.optimal import OptimalAttack
from advrl.attacks.wrappers import VecPerturbObservation
from advrl.policies import NoVictim, from_sb3


@dataclass
class _LiveVictim:
    """The victim being trained, as :class:`ObservationAdversaryEnv` sees a victim."""

    model: PPO
    vec_normalize: VecNormalize
    env_id: str
    env_kwargs: dict[str, Any]

    def torch_policy(self):
        return from_sb3(self.model, venv=self.vec_normalize)  # current statistics, copied


class ATLA:
    """Alternate a victim and an optimal-attack adversary.

    Args:
        env_id: the task (a Box-observation Gymnasium id).
        eps: l_inf budget in the victim's normalised observation space (the env's standard eps).
        sa_kappa: > 0 trains the victim with the SA regulariser at ``eps`` (ATLA-SA-PPO).
        total_steps: victim env steps the SA eps ramp refers to (needed with ``sa_kappa``).
        n_envs: parallel envs per side.
        victim_kwargs, adversary_kwargs: SB3 PPO arguments per side.
        seed, device: as in SB3.

    Example:
        >>> tiny = dict(n_steps=64, batch_size=64, policy_kwargs=dict(net_arch=[8]))
        >>> atla = ATLA("Pendulum-v1", eps=0.1, n_envs=1, victim_kwargs=tiny, adversary_kwargs=tiny)
        >>> atla = atla.learn(iterations=1)
        >>> atla.victim.num_timesteps, atla.adversary.num_timesteps
        (64, 64)
    """

    def __init__(
        self,
        env_id: str,
        eps: float,
        *,
        sa_kappa: float = 0.0,
        total_steps: int | None = None,
        n_envs: int = 8,
        victim_kwargs: dict[str, Any] | None = None,
        adversary_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.eps = check_real(eps, "eps", "a finite number > 0", lambda e: e > 0)
        self.sa_kappa = check_real(sa_kappa, "sa_kappa", "a finite number >= 0", lambda k: k >= 0)
        n_envs = check_positive_int(n_envs, "n_envs")
        if self.sa_kappa > 0 and total_steps is None:
            raise ValueError("sa_kappa > 0 needs total_steps: the SA eps ramp spans them")
        self.env_id = env_id
        task = make_vec_env(env_id, n_envs=n_envs, seed=seed)
        self.vec_normalize = VecNormalize(task, clip_obs=10.0)
        # VecNormalize keeps the raw space's bounds, but its observations are normalised: the
        # perturbation wrapper clips to the space, so declare the space they really live in.
        shape = self.vec_normalize.observation_space.shape
        self.vec_normalize.observation_space = gym.spaces.Box(-10.0, 10.0, shape, np.float32)
        self.adversary: PPO | None = None
        self._attack = _DeferredAttack(self)
        victim_env = VecPerturbObservation(
            self.vec_normalize, self._attack, NoVictim(self.vec_normalize.observation_space),
            space="raw", seed=seed,
        )  # fmt: skip
        victim_kwargs = dict(victim_kwargs or {})
        if self.sa_kappa > 0:
            self.victim: PPO = SAPPO(
                "MlpPolicy", victim_env, sa_kappa=self.sa_kappa, sa_eps=self.eps,
                sa_horizon=total_steps, sa_seed=seed, seed=seed, device=device, **victim_kwargs,
            )  # fmt: skip
        else:
            self.victim = PPO("MlpPolicy", victim_env, seed=seed, device=device, **victim_kwargs)
        live = _LiveVictim(self.victim, self.vec_normalize, env_id, {})
        adversary_env = VecObservationAdversary(
            [lambda: ObservationAdversaryEnv(live, eps=self.eps)] * n_envs
        )
        adversary_env.seed(seed + 100_000)
        adversary_env = VecNormalize(VecMonitor(adversary_env), norm_obs=False, norm_reward=True)
        self.adversary_env = adversary_env
        adv_kwargs = {"learning_rate": 1e-3, "ent_coef": 1e-5, **(adversary_kwargs or {})}
        self.adversary = PPO("MlpPolicy", adversary_env, seed=seed + 1, device=device, **adv_kwargs)

    def _refresh_adversary_view(self) -> None:
        policy = from_sb3(self.victim, venv=self.vec_normalize)
        self.adversary_env.env_method("set_policy", policy)

    def learn(self, iterations: int) -> ATLA:
        """Run ``iterations`` x (one victim rollout + update, one adversary rollout + update)."""
        check_positive_int(iterations, "iterations")
        victim_rollout = self.victim.n_steps * self.victim.n_envs
        adversary_rollout = self.adversary.n_steps * self.adversary.n_envs
        for _ in range(iterations):
            self.victim.learn(victim_rollout, reset_num_timesteps=False)
            self._refresh_adversary_view()
            self.adversary.learn(adversary_rollout, reset_num_timesteps=False)
        return self


class _DeferredAttack(OptimalAttack):
    """The current adversary's sampled perturbation (the adversary is built after the
    victim's env, which needs an attack first)."""

    def __init__(self, atla: ATLA) -> None:
        self.eps, self.norm, self.deterministic = atla.eps, "linf", False
        self._atla = atla

    @property
    def adversary(self):  # type: ignore[override]  # read live: it is trained in place
        return self._atla.adversary.policy

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)
