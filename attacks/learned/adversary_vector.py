"""The adversary games as Gymnasium vector envs: one victim call per step for all envs.

:class:`ObservationAdversaryVectorEnv` is to Gymnasium's vector API (``gym.make_vec``,
CleanRL-style loops) what :class:`~advrl.attacks.learned.adversary_env.VecObservationAdversary`
is to SB3: ``n`` game envs, each with its own task and generator, whose victim forward passes
(normalise, act) run as one batch through the same step as SB3's twin (the game's
``play_batch``). Env ``i`` follows the
trajectory of a single env seeded alike (tested), in either autoreset mode Gymnasium's own
vector envs default to or offer: ``NEXT_STEP`` (the step after an episode's last returns the
next episode's first observation, reward 0) and ``SAME_STEP`` (the last observation goes to
``info["final_obs"]``).

``advrl/ObservationAdversary-v0``, ``advrl/DirectionAdversary-v0`` and
``advrl/TargetedAdversary-v0`` (RAT) name these as their
``vector_entry_point``, so ``gym.make_vec(id, n, vectorization_mode="vector_entry_point")``
builds the batched game.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from advrl.attacks.learned.adversary_env import ObservationAdversaryEnv

MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)


def _mode(value: AutoresetMode | str) -> AutoresetMode:
    try:
        mode = AutoresetMode(value)
    except ValueError:
        mode = None
    if mode not in MODES:
        raise ValueError(
            f"unknown autoreset_mode {value!r}; allowed: {[m.value for m in MODES]}"
        )
    return mode


class ObservationAdversaryVectorEnv(gym.vector.VectorEnv):
    """``n`` adversary games with one batched victim call per step (Gymnasium vector API).

    Args:
        env_fns: factories of unwrapped :class:`ObservationAdversaryEnv` (or subclass, e.g.
            PA-AD's director game) instances; episode statistics come from a vector wrapper
            such as ``gym.wrappers.vector.RecordEpisodeStatistics`` on top.
        autoreset_mode: ``"NextStep"`` (Gymnasium's default) or ``"SameStep"``.

    Infos are Gymnasium vector infos (per-env arrays with ``_key`` masks): ``reward_victim``,
    ``attack_norm`` and ``obs_clean`` on every played step, the tasks' reset infos on resets.

    Example:
        >>> import gymnasium as gym, numpy as np, advrl
        >>> envs = gym.make_vec("advrl/ObservationAdversary-v0", 3,
        ...                     vectorization_mode="vector_entry_point", eps=0.5)
        >>> obs, _ = envs.reset(seed=0)
        >>> obs, rewards, *_, info = envs.step(envs.action_space.sample())
        >>> obs.shape, bool((rewards == -info["reward_victim"]).all())
        ((3, 4), True)
        >>> bool((info["attack_norm"] <= 0.5).all())
        True
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], ObservationAdversaryEnv]],
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ) -> None:
        if len(env_fns) == 0:
            raise ValueError("ObservationAdversaryVectorEnv needs at least one env factory")
        self.autoreset_mode = _mode(autoreset_mode)
        self.envs = [fn() for fn in env_fns]
        for env in self.envs:
            if not isinstance(env, ObservationAdversaryEnv):
                raise TypeError(
                    "ObservationAdversaryVectorEnv needs unwrapped ObservationAdversaryEnv "
                    f"instances, got {type(env).__name__}"
                )
        first = self.envs[0]
        self.num_envs = len(self.envs)
        self.metadata = {**first.metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, self.num_envs)
        self.action_space = batch_space(first.action_space, self.num_envs)
        self._observations = np.zeros(self.observation_space.shape, np.float32)
        # NEXT_STEP: envs whose episode ended last step, reset (not played) on this one.
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        seeds = seed if isinstance(seed, list) else [
            None if seed is None else seed + i for i in range(self.num_envs)
        ]  # fmt: skip
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        infos: dict[str, Any] = {}
        for i, (env, s) in enumerate(zip(self.envs, seeds, strict=True)):
            self._observations[i], info = env.reset(seed=s, options=options)
            infos = self._add_info(infos, info, i)
        self._autoreset[:] = False
        return self._observations.copy(), infos

    def step(self, actions: np.ndarray):
        if any(env._obs_norm is None for env in self.envs):
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        n = self.num_envs
        rewards, terminated, truncated = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
        infos: dict[str, Any] = {}
        played = np.flatnonzero(~self._autoreset)
        for i in np.flatnonzero(self._autoreset):  # NEXT_STEP: this step is the reset
            self._observations[i], info = self.envs[i].reset()
            infos = self._add_info(infos, info, i)
        if played.size:
            batch = [self.envs[i] for i in played]
            steps = type(batch[0]).play_batch(batch, actions[played])
            finals: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
            for i, (obs, reward, term, trunc, info) in zip(played, steps, strict=True):
                rewards[i], terminated[i], truncated[i] = reward, term, trunc
                if (term or trunc) and self.autoreset_mode == AutoresetMode.SAME_STEP:
                    finals[i] = obs, info
                    obs, info = self.envs[i].reset()
                self._observations[i] = obs
                infos = self._add_info(infos, info, i)
            if finals:
                infos = self._add_finals(infos, finals)
        self._autoreset = terminated | truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            self._autoreset[:] = False
        return self._observations.copy(), rewards, terminated, truncated, infos

    def _add_finals(self, infos: dict[str, Any], finals: dict) -> dict[str, Any]:
        """SAME_STEP: the ended envs' last observations and infos, as Gymnasium puts them."""
        final_obs = np.full(self.num_envs, None, dtype=object)
        final_info: dict[str, Any] = {}
        mask = np.zeros(self.num_envs, dtype=bool)
        for i, (obs, info) in finals.items():
            final_obs[i], mask[i] = obs, True
            final_info = self._add_info(final_info, info, i)
        infos.update(final_obs=final_obs, _final_obs=mask, final_info=final_info,
                     _final_info=mask.copy())  # fmt: skip
        return infos

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def _vector_entry_point(env_cls: type[ObservationAdversaryEnv]):
    def make(
        num_envs: int = 1,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> ObservationAdversaryVectorEnv:
        if not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        _mode(autoreset_mode)  # a bad mode fails before any victim is loaded
        first = env_cls(**kwargs)  # checks the kwargs once, before the other copies
        fns = [lambda: first] + [lambda: env_cls(**kwargs)] * (int(num_envs) - 1)
        return ObservationAdversaryVectorEnv(fns, autoreset_mode)

    make.__name__ = make.__qualname__ = f"{env_cls.__name__}_vec"
    make.__doc__ = (
        f"The ``vector_entry_point`` of :class:`{env_cls.__name__}`: ``num_envs`` games built "
        "from the same kwargs, in an :class:`ObservationAdversaryVectorEnv`."
    )
    return make


observation_adversary_vec = _vector_entry_point(ObservationAdversaryEnv)


def direction_adversary_vec(num_envs: int = 1, **kwargs: Any) -> ObservationAdversaryVectorEnv:
    """The ``vector_entry_point`` of PA-AD's director game (``advrl/DirectionAdversary-v0``)."""
    from advrl.attacks.learned.paad import DirectionAdversaryEnv

    return _vector_entry_point(DirectionAdversaryEnv)(num_envs, **kwargs)


def targeted_adversary_vec(num_envs: int = 1, **kwargs: Any) -> ObservationAdversaryVectorEnv:
    """The ``vector_entry_point`` of RAT's game (``advrl/TargetedAdversary-v0``)."""
    from advrl.attacks.learned.rat import TargetedAdversaryEnv

    return _vector_entry_point(TargetedAdversaryEnv)(num_envs, **kwargs)
