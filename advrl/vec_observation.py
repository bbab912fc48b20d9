"""The episode-end protocol shared by the VecEnv wrappers that change observations.

SB3 VecEnvs auto-reset: a step that ends an episode returns the next episode's first
observation and puts the last one in ``info["terminal_observation"]`` (which SB3 bootstraps
a truncated episode from). A wrapper whose agent sees transformed observations (attacked,
noised, messaged) must transform that one too, and, to equal its one-env gym twin under the
same seed, transform the ended envs' last observations before the step's batch: the order in
which the gym twin sees them. :class:`VecTransformObservation` does this once for all of them.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper


def check_sb3_venv(venv: Any, wrapper: str, vector_twin: str) -> None:
    """A ``TypeError`` naming the Gymnasium vector twin when ``venv`` is a Gymnasium vector env
    (which an SB3 VecEnv wrapper cannot drive)."""
    if isinstance(venv, gym.vector.VectorEnv):
        raise TypeError(
            f"{wrapper} wraps an SB3 VecEnv, got the Gymnasium vector env "
            f"{type(venv).__name__}; for Gymnasium's vector API use {vector_twin}"
        )


def obs_row(obs: Any, i: int) -> Any:
    """Env ``i``'s entry of a batched Box or Dict observation."""
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def stack_rows(rows: list[Any]) -> Any:
    """The batch of single Box or Dict observations."""
    if isinstance(rows[0], dict):
        return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}
    return np.stack([np.asarray(r) for r in rows])


class VecTransformObservation(VecEnvWrapper):
    """Base of VecEnv wrappers that transform every observation the agent sees, batched.

    Subclasses implement :meth:`transform`. Info keys, per env: ``obs_clean`` is the clean
    version of the observation returned for that env (after an auto-reset, the next
    episode's first one) and each per-env value :meth:`transform` reports (``attack_norm``,
    ``message``) sits beside it. Where an episode ended, ``terminal_observation`` is
    transformed like every other observation, ``terminal_obs_clean`` holds the clean one and
    ``terminal_<key>`` the reported values. ``reset_infos[i]`` (SB3's reset infos) gets
    ``obs_clean`` and the reported values of env ``i``'s latest reset, as a gym twin's reset
    info does; the inner VecEnv's reset infos are copied, never changed.
    """

    @abstractmethod
    def transform(self, obs: Any, n: int) -> tuple[Any, dict[str, Sequence[Any]]]:
        """``(transformed batch, {info key: per-env values})`` for a batch of ``n`` clean
        observations."""

    def _reset_info(self, i: int, obs: Any, values: dict[str, Sequence[Any]]) -> dict[str, Any]:
        inner = getattr(self.venv, "reset_infos", None)
        base = inner[i] if inner is not None and i < len(inner) else {}
        return {**base, "obs_clean": obs_row(obs, i), **{k: v[i] for k, v in values.items()}}

    def reset(self) -> Any:
        obs = self.venv.reset()
        out, values = self.transform(obs, self.num_envs)
        self.reset_infos = [self._reset_info(i, obs, values) for i in range(self.num_envs)]
        return out

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        done = np.flatnonzero(dones).tolist()
        ended = [i for i in done if "terminal_observation" in infos[i]]
        if ended:  # before the step's batch: the order the gym twin sees them in
            finals = [infos[i]["terminal_observation"] for i in ended]
            out, values = self.transform(stack_rows(finals), len(ended))
            for j, i in enumerate(ended):
                infos[i]["terminal_obs_clean"] = finals[j]
                infos[i]["terminal_observation"] = obs_row(out, j)
                for key, v in values.items():
                    infos[i][f"terminal_{key}"] = v[j]
        out, values = self.transform(obs, self.num_envs)
        for i, info in enumerate(infos):
            info["obs_clean"] = obs_row(obs, i)
            for key, v in values.items():
                info[key] = v[i]
        for i in done:
            self.reset_infos[i] = self._reset_info(i, obs, values)
        return out, rewards, dones, infos
