"""Entry points of the smoothed tasks registered under ``advrl/``."""

from __future__ import annotations

import gymnasium as gym
from gymnasium.wrappers import FrameStackObservation

from advrl.agents.smoothing.wrappers import SmoothObservation


def smoothed_env(
    env_id: str = "CartPole-v1",
    sigma: float = 0.2,
    frame_stack: int = 1,
    max_episode_steps: int | None = None,
    seed: int | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """``env_id`` with N(0, sigma^2 I) noise on each raw observation, then frame stacking.

    Noise is added *before* stacking, so every frame is noised once (Kumar et al. 2022).

    Args:
        env_id: the base Gymnasium task.
        sigma: smoothing noise std in raw observation units (> 0).
        frame_stack: frames per observation (1: no stacking); stacks are padded with the
            reset observation.
        max_episode_steps: episode length (the paper's CartPole uses 200).
    """
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; see gymnasium.registry or `advrl list`")
    if isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or frame_stack < 1:
        raise ValueError(f"frame_stack must be an integer >= 1, got {frame_stack!r}")
    kwargs: dict = {"render_mode": render_mode}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    env = SmoothObservation(gym.make(env_id, **kwargs), sigma, seed)
    if frame_stack > 1:
        env = FrameStackObservation(env, frame_stack, padding_type="reset")
    return env
