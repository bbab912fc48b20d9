"""Attack one Box entry of a Dict observation (e.g. NetHack's ``blstats``).

The core attack engine (:class:`~advrl.attacks.apply.ObservationAttacker`) works on Box
observations; this adapter hands it ``obs[key]`` and puts the result back, leaving every
other key untouched. Integer entries stay integers (the perturbation is cast to the key's
dtype, so sub-unit noise rounds towards zero) and ``info["attack_norm"]`` is measured on
what was actually applied.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from advrl.attacks.apply import ObservationAttacker
from advrl.policies import NoVictim
from advrl.types import AttackSpace, ObservationAttack, TorchPolicy


class PerturbObservationKey(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Perturb ``obs[key]`` of a Dict-observation env with an observation attack.

    Args:
        env: env with a ``gym.spaces.Dict`` observation space.
        key: the Box entry to attack.
        attack: an :class:`~advrl.types.ObservationAttack` (noise attacks need no victim).
        policy: a victim seen as a function of ``obs[key]`` alone, for gradient attacks;
            None for victim-free (noise) attacks, whose budget is then in raw units.
        space: ``"raw"`` or ``"normalized"`` (the policy's input space).
        seed: seed of the attack's generator; ``reset(seed=s)`` reseeds it from ``s``.

    ``info["obs_clean"]`` holds the whole clean Dict observation and ``info["attack_norm"]``
    the size of the applied perturbation.

    Example:
        >>> import gymnasium as gym, numpy as np
        >>> from advrl.attacks import UniformNoise
        >>> env = gym.make("CartPole-v1")
        >>> env = gym.wrappers.TransformObservation(
        ...     env, lambda o: {"x": o}, gym.spaces.Dict({"x": env.observation_space}))
        >>> env = PerturbObservationKey(env, "x", UniformNoise(0.1), seed=0)
        >>> obs, info = env.reset(seed=0)
        >>> bool(np.abs(obs["x"] - info["obs_clean"]["x"]).max() <= 0.1 + 1e-6)
        True
    """

    def __init__(
        self,
        env: gym.Env,
        key: str,
        attack: ObservationAttack,
        policy: TorchPolicy | None = None,
        space: AttackSpace = "raw",
        seed: int | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, key=key, attack=attack, policy=policy, space=space, seed=seed
        )
        gym.Wrapper.__init__(self, env)
        obs_space = env.observation_space
        if not isinstance(obs_space, gym.spaces.Dict) or key not in obs_space.spaces:
            raise ValueError(f"key {key!r} is not in the observation space {obs_space}")
        sub_space = obs_space.spaces[key]
        policy = NoVictim(sub_space) if policy is None else policy
        self.attacker = ObservationAttacker(attack, policy, sub_space, space, seed)
        self.key, self.attack, self.policy, self.space = key, attack, policy, space

    def _perturb(self, obs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        batch = self.attacker(obs[self.key][None])
        # Copies: some envs (nle) overwrite their observation buffers in place on each step.
        info["obs_clean"] = {k: np.array(v, copy=True) for k, v in obs.items()}
        info["attack_norm"] = float(batch.norms[0])
        return {**obs, self.key: batch.obs[0]}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.attacker.reseed(seed)
        obs, info = self.env.reset(seed=seed, options=options)
        return self._perturb(obs, info), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._perturb(obs, info), reward, terminated, truncated, info
