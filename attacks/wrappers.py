"""Wrappers that apply an observation attack: one Gymnasium env, or an SB3 VecEnv.

Both keep the clean observation in ``info["obs_clean"]`` and the perturbation size (in the
attack's space and norm) in ``info["attack_norm"]``. By default the budget lives in the
policy's *normalised* input space (SA-PPO protocol) and raw observations are handed back,
so the stack ``VecNormalize(VecPerturbObservation(raw_venv))`` is what the victim sees.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from advrl.attacks.apply import ObservationAttacker
from advrl.types import AttackSpace, ObservationAttack, TorchPolicy
from advrl.vec_observation import VecTransformObservation, check_sb3_venv


class PerturbObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Perturb every observation with an attack on a fixed victim.

    Args:
        env: env whose (raw) observations the victim consumes.
        attack: an :class:`~advrl.types.ObservationAttack`, e.g. ``PGD(eps=0.075)``.
        policy: the victim (:func:`advrl.policies.from_sb3`).
        space: ``"normalized"`` (budget in the policy's input space) or ``"raw"``.
        seed: seed of the attack's generator; ``reset(seed=s)`` reseeds it from ``s``.

    Example:
        >>> import gymnasium as gym, torch as th
        >>> from advrl.attacks import PerturbObservation, UniformNoise
        >>> from advrl.testing import LinearPolicy
        >>> env = PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.05),
        ...                          LinearPolicy(th.ones(2, 4), discrete=True))
        >>> obs, info = env.reset(seed=0)
        >>> bool(info["attack_norm"] <= 0.05)
        True
    """

    def __init__(
        self,
        env: gym.Env,
        attack: ObservationAttack,
        policy: TorchPolicy,
        space: AttackSpace = "normalized",
        seed: int | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, attack=attack, policy=policy, space=space, seed=seed
        )
        gym.Wrapper.__init__(self, env)
        self.attacker = ObservationAttacker(attack, policy, env.observation_space, space, seed)
        self.attack, self.policy, self.space = attack, policy, space

    # reset and step attack inline, with no helper call: the whole wrapper costs under a
    # microsecond per step (BENCHMARKS.md), so one more Python call is a visible share.
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.attacker.reseed(seed)
        obs, info = self.env.reset(seed=seed, options=options)
        perturbed, norm = self.attacker.single(obs)
        info["obs_clean"] = obs
        info["attack_norm"] = norm
        return perturbed, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        perturbed, norm = self.attacker.single(obs)
        info["obs_clean"] = obs
        info["attack_norm"] = norm
        return perturbed, reward, terminated, truncated, info


class VecPerturbObservation(VecTransformObservation):
    """The VecEnv version of :class:`PerturbObservation`: one batched attack for all envs.

    Put it *below* a frozen ``VecNormalize`` (it emits raw observations). With the same
    generator seed and one env it produces exactly what :class:`PerturbObservation` does,
    across episode ends too: the gym twin perturbs an episode's last observation, then the
    next episode's first, and so does this wrapper (the ended envs' last observations in one
    extra batched call, before the step's batch).

    Info keys, per env: ``obs_clean`` and ``attack_norm`` describe the observation returned
    for that env (after an auto-reset, the next episode's first one). Where an episode ended,
    ``terminal_observation`` is *perturbed* like every observation the policy sees (so SB3's
    truncation bootstrap values what the victim would have seen), ``terminal_obs_clean`` holds
    the clean last observation and ``terminal_attack_norm`` its perturbation size.
    ``reset_infos[i]`` (SB3's reset infos) gets ``obs_clean`` and ``attack_norm`` of env
    ``i``'s latest reset, as the gym twin's reset info does.

    Example:
        >>> import gymnasium as gym, numpy as np, torch as th
        >>> from stable_baselines3.common.vec_env import DummyVecEnv
        >>> from advrl.attacks import VecPerturbObservation, UniformNoise
        >>> from advrl.testing import LinearPolicy
        >>> venv = DummyVecEnv([lambda: gym.make("CartPole-v1", max_episode_steps=2)] * 3)
        >>> venv = VecPerturbObservation(venv, UniformNoise(0.05),
        ...                              LinearPolicy(th.ones(2, 4), discrete=True), seed=0)
        >>> venv.reset().shape
        (3, 4)
        >>> sorted(venv.reset_infos[0])
        ['attack_norm', 'obs_clean']
        >>> for _ in range(2):
        ...     obs, rewards, dones, infos = venv.step(np.zeros(3, dtype=int))
        >>> bool(dones.all()), sorted(k for k in infos[0] if k.startswith("terminal_"))
        (True, ['terminal_attack_norm', 'terminal_obs_clean', 'terminal_observation'])
        >>> delta = infos[0]["terminal_observation"] - infos[0]["terminal_obs_clean"]
        >>> bool(0 < abs(delta).max() <= 0.05)
        True
    """

    def __init__(
        self,
        venv: VecEnv,
        attack: ObservationAttack,
        policy: TorchPolicy,
        space: AttackSpace = "normalized",
        seed: int | None = None,
    ) -> None:
        check_sb3_venv(venv, "VecPerturbObservation", "advrl.attacks.vector.PerturbObservation")
        super().__init__(venv)
        self.attacker = ObservationAttacker(attack, policy, venv.observation_space, space, seed)
        self.attack, self.policy, self.space = attack, policy, space
        # The latest batch: its clean observations and perturbation sizes (the step's batch,
        # transformed after any terminal observations).
        self.last_norms = np.zeros(self.num_envs)
        self.last_clean: np.ndarray | None = None

    def seed(self, seed: int | None = None):
        if seed is not None:
            self.attacker.reseed(seed)
        return self.venv.seed(seed)

    def transform(self, obs: np.ndarray, n: int) -> tuple[np.ndarray, dict[str, list]]:
        batch = self.attacker(obs)
        self.last_clean, self.last_norms = obs, batch.norms
        return batch.obs, {"attack_norm": batch.norms.tolist()}
