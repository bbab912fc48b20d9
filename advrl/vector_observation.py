"""The episode-end protocol of advrl's Gymnasium vector wrappers (``gym.vector.VectorWrapper``).

A Gymnasium vector env resets an ended sub-env in the way its
``metadata["autoreset_mode"]`` names (https://farama.org/Vector-Autoreset-Mode):

- ``NEXT_STEP`` (the default): the step that ends an episode returns its last observation;
  the next step ignores that env's action and returns the next episode's first observation,
  with reward 0 and neither termination nor truncation.
- ``SAME_STEP``: the step that ends an episode returns the next episode's first observation,
  the last one in ``info["final_obs"]`` (an object array, None where no episode ended) and
  that step's own info in ``info["final_info"]``.
- ``DISABLED``: the user resets ended envs with ``reset(options={"reset_mask": mask})``.

Infos are dicts of per-env arrays; each key ``k`` has a boolean mask ``_k`` naming the envs
that have it. :class:`VectorTransformObservation` transforms every observation the agent sees
(final ones included) in the order a one-env gym twin sees them, in every mode; the helpers
serve the reward wrappers (:mod:`advrl.envs.vector`) too. The SB3 VecEnv twin of this module
is :mod:`advrl.vec_observation`; the per-batch maths (attack, noise draw, message) is the same
engine object in both.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from advrl.vec_observation import obs_row, stack_rows

SUPPORTED_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED)


def autoreset_mode(env: VectorEnv) -> AutoresetMode:
    """The autoreset mode of ``env``, or a ``ValueError`` naming the supported ones.

    Read from the base vector env's own ``autoreset_mode`` attribute when it has one, else
    from ``env.metadata["autoreset_mode"]`` (missing: ``NEXT_STEP``, with a warning, as
    Gymnasium's own wrappers assume). The attribute comes first because Gymnasium 1.2's
    Sync/AsyncVectorEnv write the mode into the sub-env's class-level metadata dict, so the
    metadata of every vector env over that env class reports the mode of the latest one.
    """
    mode = getattr(env.unwrapped, "autoreset_mode", None)
    if not isinstance(mode, AutoresetMode):
        mode = env.metadata.get("autoreset_mode")
    if mode is None:
        warnings.warn(
            f"{env} has no metadata['autoreset_mode']; assuming AutoresetMode.NEXT_STEP",
            stacklevel=3,
        )
        return AutoresetMode.NEXT_STEP
    try:
        mode = AutoresetMode(mode)
    except ValueError:
        mode = None
    if mode not in SUPPORTED_MODES:
        raise ValueError(
            f"unsupported autoreset mode {env.metadata.get('autoreset_mode')!r} of {env}; "
            f"allowed: {[m.name for m in SUPPORTED_MODES]}"
        )
    return mode


def check_vector_env(env: Any, wrapper: str, sb3_twin: str) -> VectorEnv:
    """``env`` if it is a Gymnasium vector env, else a ``TypeError`` naming the SB3 twin (the
    wrapper for SB3 VecEnvs)."""
    if not isinstance(env, VectorEnv):
        raise TypeError(
            f"{wrapper} wraps a gymnasium.vector.VectorEnv (SyncVectorEnv, AsyncVectorEnv, "
            f"gym.make_vec), got {type(env).__name__}; for an SB3 VecEnv use {sb3_twin}"
        )
    return env


def first_seed(seed: int | list[int | None] | None) -> int | None:
    """The seed a wrapper's own generator restarts from on ``reset(seed=...)``: the int, or
    the first int of a per-env list (so a one-env run equals its gym twin's)."""
    if seed is None or isinstance(seed, int | np.integer):
        return seed
    return next((int(s) for s in seed if s is not None), None)


def take(batch: Any, idx: np.ndarray | None) -> Any:
    """Rows ``idx`` (all rows if None) of a batched Box or Dict observation."""
    if idx is None:
        return batch
    return {k: v[idx] for k, v in batch.items()} if isinstance(batch, dict) else batch[idx]


def put(batch: Any, idx: np.ndarray | None, rows: Any) -> Any:
    """A copy of ``batch`` with rows ``idx`` replaced (``rows`` itself if ``idx`` is None)."""
    if idx is None:
        return rows
    if isinstance(batch, dict):
        return {k: put(v, idx, rows[k]) for k, v in batch.items()}
    out = np.array(batch, copy=True)
    out[idx] = rows
    return out


def add_rows(infos: dict[str, Any], key: str, idx: np.ndarray | None, rows: Any, n: int) -> None:
    """Set ``infos[key]`` to ``n`` per-env values, ``rows`` at ``idx`` (all envs if None), and
    its mask ``infos["_" + key]`` to ``idx``; a dict of rows becomes a nested info dict."""
    mask = np.zeros(n, dtype=bool)
    mask[slice(None) if idx is None else idx] = True
    if isinstance(rows, dict):
        nested: dict[str, Any] = {}
        for k, v in rows.items():
            add_rows(nested, k, idx, v, n)
        infos[key], infos[f"_{key}"] = nested, mask
        return
    rows = np.asarray(rows)
    if idx is not None:
        full = np.zeros((n, *rows.shape[1:]), dtype=rows.dtype)
        full[idx] = rows
        rows = full
    infos[key], infos[f"_{key}"] = rows, mask


def info_row(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Env ``i``'s own info (what its single env returned) out of a vector info dict."""
    row = {}
    for key, value in infos.items():
        mask = infos.get(f"_{key}")
        if key.startswith("_") and key[1:] in infos:
            continue  # a mask
        if mask is not None and not mask[i]:
            continue
        row[key] = info_row(value, i) if isinstance(value, dict) else value[i]
    return row


def ended_rows(infos: dict[str, Any]) -> np.ndarray:
    """Envs whose episode ended this step under ``SAME_STEP`` (those with a ``final_obs``)."""
    return np.flatnonzero(infos.get("_final_obs", np.zeros(0, dtype=bool)))


def final_batch(infos: dict[str, Any], ended: np.ndarray) -> Any:
    """The final observations of the ``ended`` envs as one batch."""
    return stack_rows([infos["final_obs"][i] for i in ended])


class VectorTransformObservation(gym.vector.VectorWrapper):
    """Base of vector wrappers that transform every observation the agent sees, batched.

    Subclasses implement :meth:`transform` and :meth:`reseed`. Info keys: ``obs_clean`` holds
    the clean version of each returned observation and each per-env value :meth:`transform`
    reports (``attack_norm``, ``message``) sits beside it, masked to the envs it describes
    (after a partial reset, the envs reset). In ``SAME_STEP`` mode ``final_obs`` is
    transformed like every other observation, before the step's batch (the order a gym twin
    sees them in), ``final_obs_clean`` holds the clean ones and ``final_info`` gets
    ``obs_clean`` and the reported values, as the gym twin's info of that last step has them.
    A partial reset (``options["reset_mask"]``) transforms only the envs it resets; the others
    keep the observation they were last given.

    Args:
        env: the vector env.
        single_observation_space: the transformed observation space of one env (None: the
            env's own).

    Raises:
        ValueError: ``env`` has an autoreset mode other than ``NEXT_STEP``, ``SAME_STEP`` or
            ``DISABLED``.

    Example:
        >>> import gymnasium as gym, numpy as np
        >>> class Doubled(VectorTransformObservation):
        ...     def transform(self, obs, n):
        ...         return 2 * obs, {"scale": np.full(n, 2.0)}
        ...     def reseed(self, seed):
        ...         pass
        >>> fn = lambda: gym.make("CartPole-v1", max_episode_steps=1)
        >>> envs = Doubled(gym.vector.SyncVectorEnv([fn] * 2, autoreset_mode="SameStep"))
        >>> obs, info = envs.reset(seed=0)
        >>> bool((obs == 2 * info["obs_clean"]).all()), info["scale"]
        (True, array([2., 2.]))
        >>> _, _, _, truncated, info = envs.step(np.zeros(2, dtype=int))
        >>> final, clean = info["final_obs"][0], info["final_obs_clean"][0]
        >>> bool(truncated.all() and (final == 2 * clean).all()), info["final_info"]["scale"]
        (True, array([2., 2.]))
    """

    def __init__(self, env: VectorEnv, single_observation_space: gym.Space | None = None) -> None:
        super().__init__(env)
        self.autoreset_mode = autoreset_mode(env)
        if single_observation_space is not None:
            self.single_observation_space = single_observation_space
            self.observation_space = batch_space(single_observation_space, self.num_envs)
        self._observations: Any = None  # the latest returned batch, for partial resets

    @abstractmethod
    def transform(self, obs: Any, n: int) -> tuple[Any, dict[str, np.ndarray]]:
        """``(transformed batch, {info key: per-env values})`` for ``n`` clean observations
        (``obs: shape (n, *obs_shape)``, or a dict of such)."""

    @abstractmethod
    def reseed(self, seed: int) -> None:
        """Restart the transform's own generator from a reset seed."""

    def _annotate(self, infos: dict[str, Any], idx: np.ndarray | None, clean: Any, values) -> None:
        add_rows(infos, "obs_clean", idx, clean, self.num_envs)
        for key, v in values.items():
            add_rows(infos, key, idx, v, self.num_envs)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        # Read the mask first: Sync/AsyncVectorEnv pop it from the options.
        mask = None if options is None else options.get("reset_mask")
        if (s := first_seed(seed)) is not None:
            self.reseed(s)
        obs, infos = self.env.reset(seed=seed, options=options)
        idx = None if mask is None or self._observations is None else np.flatnonzero(mask)
        clean = take(obs, idx)
        out, values = self.transform(clean, self.num_envs if idx is None else len(idx))
        self._annotate(infos, idx, clean, values)
        self._observations = put(self._observations, idx, out)
        return self._observations, infos

    def step(self, actions: Any):
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            self._transform_final(infos)
        out, values = self.transform(obs, self.num_envs)
        self._annotate(infos, None, obs, values)
        self._observations = out
        return out, rewards, terminations, truncations, infos

    def _transform_final(self, infos: dict[str, Any]) -> None:
        ended = ended_rows(infos)
        if ended.size == 0:
            return
        clean = final_batch(infos, ended)
        out, values = self.transform(clean, len(ended))
        final_obs, final_clean = infos["final_obs"].copy(), np.full(self.num_envs, None, object)
        for j, i in enumerate(ended):
            final_clean[i], final_obs[i] = infos["final_obs"][i], obs_row(out, j)
        infos["final_obs"] = final_obs
        infos["final_obs_clean"] = final_clean
        infos["_final_obs_clean"] = infos["_final_obs"].copy()
        final_info = infos.setdefault("final_info", {})
        for key, v in {"obs_clean": clean, **values}.items():
            add_rows(final_info, key, ended, v, self.num_envs)
