"""Drivers shared by the Gymnasium vector-wrapper tests.

A vector wrapper over one env must return, in order, exactly the observations, rewards and
info values its single-env gym twin returns under the same seed and actions, across episode
ends, whatever the autoreset mode. These drivers run both and flatten each run into the
stream of records ``(obs, reward or None for a reset, info)`` the twin produces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from advrl.vector_observation import autoreset_mode, info_row

EPISODE = 6  # short episodes: every stream crosses several episode ends
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]

Record = tuple[Any, float | None, dict[str, Any]]


def short_cartpole() -> gym.Env:
    return gym.make("CartPole-v1", max_episode_steps=EPISODE)


def actions(n: int) -> list[int]:
    return [(t // 3) % 2 for t in range(n)]  # fixed, so both runs visit the same states


def sync(fn: Callable[[], gym.Env], mode: AutoresetMode, n: int = 1) -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv([fn] * n, autoreset_mode=mode)


def twin_stream(env: gym.Env, seed: int, n_steps: int, act=actions) -> list[Record]:
    """What a single env returns: each step, and each reset after an episode end."""
    obs, info = env.reset(seed=seed)
    stream: list[Record] = [(obs, None, info)]
    for action in act(n_steps):
        obs, reward, terminated, truncated, info = env.step(action)
        stream.append((obs, float(reward), info))
        if terminated or truncated:
            obs, info = env.reset()
            stream.append((obs, None, info))
    return stream


def vector_stream(
    envs: gym.vector.VectorEnv,
    seed: int,
    n_steps: int,
    act=actions,
    reward_keys: Sequence[str] = (),
) -> list[Record]:
    """The same for env 0 of a one-env vector env, in its autoreset mode: the ended step's
    record from ``final_obs`` / ``final_info`` (SAME_STEP), the extra autoreset step
    (NEXT_STEP, where no ``reward_keys`` may be reported) or a masked reset (DISABLED)."""
    mode = autoreset_mode(envs)
    obs, infos = envs.reset(seed=seed)
    stream: list[Record] = [(obs_at(obs, 0), None, info_row(infos, 0))]
    ends = 0
    for action in act(n_steps):
        batch = np.array([action])
        obs, rewards, terminated, truncated, infos = envs.step(batch)
        if not (terminated[0] or truncated[0]):
            stream.append((obs_at(obs, 0), float(rewards[0]), info_row(infos, 0)))
            continue
        ends += 1
        if mode == AutoresetMode.SAME_STEP:
            final = info_row(infos["final_info"], 0)
            stream.append((infos["final_obs"][0], float(rewards[0]), final))
            stream.append((obs_at(obs, 0), None, info_row(infos, 0)))
            continue
        stream.append((obs_at(obs, 0), float(rewards[0]), info_row(infos, 0)))
        if mode == AutoresetMode.NEXT_STEP:
            obs, rewards, terminated, truncated, infos = envs.step(batch)  # action ignored
            row = info_row(infos, 0)
            assert rewards[0] == 0 and not (terminated[0] or truncated[0])
            assert not [k for k in reward_keys if k in row], f"reward keys on a reset: {row}"
        else:
            obs, infos = envs.reset(options={"reset_mask": np.array([True])})
            row = info_row(infos, 0)
        stream.append((obs_at(obs, 0), None, row))
    assert ends >= 3, ends
    return stream


def obs_at(obs: Any, i: int) -> Any:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def assert_same_stream(
    twin: list[Record],
    vec: list[Record],
    obs_keys: Sequence[str] = (),
    reward_keys: Sequence[str] = (),
) -> None:
    """Equal observations and rewards, ``obs_keys`` equal in every record and
    ``reward_keys`` in every step record (each present in both or in neither)."""
    assert len(twin) == len(vec)
    for t, ((obs_g, rew_g, info_g), (obs_v, rew_v, info_v)) in enumerate(
        zip(twin, vec, strict=True)
    ):
        assert_equal(obs_v, obs_g, f"observation {t}")
        assert rew_v == rew_g, f"reward {t}: {rew_v} != {rew_g}"
        keys = [*obs_keys, *(reward_keys if rew_g is not None else ())]
        for key in keys:
            assert (key in info_v) == (key in info_g), f"{key} at {t}: {info_v} vs {info_g}"
            if key in info_g:
                assert_equal(info_v[key], info_g[key], f"{key} at {t}")


def assert_equal(actual: Any, expected: Any, msg: str) -> None:
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), msg
        for k in expected:
            np.testing.assert_array_equal(actual[k], expected[k], err_msg=f"{msg}[{k}]")
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=msg)
