"""ONI's intrinsic reward on NetHack's in-game messages (Zheng et al. 2024, Sec. 3-4).

    r_t = c_ext * r_ext + c_int * r_int(m_t) / N_ep(m_t) ** beta

where ``m_t`` is the message shown after step t, ``r_int`` a message reward model (retrieval,
classification or ranking; see :mod:`advrl.agents.oni` and
:class:`~advrl.envs.nethack.service.AnnotationService`) and ``N_ep(m)`` the number of times
that exact message has been seen in the current episode, this step included (``beta = 3`` in
the paper): a helpful message pays fully once and then fades, so the agent is pushed to
produce *new* helpful events instead of repeating one.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from typing import Any, Protocol, SupportsFloat, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class MessageRewardFn(Protocol):
    """A message reward model: ``r_int(message) -> float`` (0 for unknown messages)."""

    def __call__(self, message: str) -> float: ...


def decode_message(message: np.ndarray) -> str:
    """NetHack's message bytes (``obs["message"]``, uint8, NUL padded) as text."""
    if message[0] == 0:  # most steps show no message: skip the copy and decode
        return ""
    raw = np.asarray(message, dtype=np.uint8).tobytes()
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


class MessageReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Add ONI's count-decayed message reward to the env's (extrinsic) reward.

    Empty messages earn nothing and are not counted. The returned reward goes to
    ``info["reward_proxy"]``; the truth (an inner task's ``info["reward_true"]``, else the
    extrinsic reward) is kept; the parts are ``info["reward_ext"]``, ``info["reward_int"]``
    (after the count decay) and ``info["message_text"]`` is the decoded message (not
    ``info["message"]``, which :class:`~advrl.envs.cheap_talk.AddCheapTalk` uses).

    Args:
        env: an env with Dict observations holding NetHack message bytes under ``key``.
        reward_fn: the message reward model ``r_int(message) -> float``.
        c_ext: weight of the env's reward (0 for intrinsic only).
        c_int: weight of the intrinsic reward.
        beta: count-decay exponent (3 in the paper).
        key: observation key of the message bytes.
        owns_reward_fn: this env owns ``reward_fn``: :meth:`close` also closes it (e.g. an
            :class:`~advrl.envs.nethack.service.AnnotationService` made for this env alone,
            whose thread would otherwise outlive it). Leave False for a service shared by
            several envs; whoever made it closes it.

    Example:
        >>> import gymnasium as gym, numpy as np
        >>> class Talk(gym.Env):  # says "hi" every step
        ...     observation_space = gym.spaces.Dict(
        ...         {"message": gym.spaces.Box(0, 255, (8,), np.uint8)})
        ...     action_space = gym.spaces.Discrete(1)
        ...     def reset(self, *, seed=None, options=None):
        ...         return {"message": np.zeros(8, np.uint8)}, {}
        ...     def step(self, a):
        ...         msg = np.frombuffer(b"hi".ljust(8, b"\\0"), np.uint8).copy()
        ...         return {"message": msg}, 0.0, False, False, {}
        >>> env = MessageReward(Talk(), lambda m: 1.0 if m == "hi" else 0.0, beta=3)
        >>> _ = env.reset()
        >>> [env.step(0)[1] for _ in range(3)]  # 1/1^3, 1/2^3, 1/3^3
        [1.0, 0.125, 0.037037037037037035]
    """

    def __init__(
        self,
        env: gym.Env,
        reward_fn: MessageRewardFn,
        c_ext: float = 1.0,
        c_int: float = 1.0,
        beta: float = 3.0,
        key: str = "message",
        owns_reward_fn: bool = False,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, reward_fn=reward_fn, c_ext=c_ext, c_int=c_int, beta=beta, key=key,
            owns_reward_fn=owns_reward_fn,
        )  # fmt: skip
        gym.Wrapper.__init__(self, env)
        if not callable(reward_fn):
            raise TypeError(f"reward_fn must be callable (message) -> float, got {reward_fn!r}")
        if not isinstance(owns_reward_fn, bool):
            raise TypeError(f"owns_reward_fn must be a bool, got {owns_reward_fn!r}")
        for name, value in (("c_ext", c_ext), ("c_int", c_int), ("beta", beta)):
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta!r}")
        space = env.observation_space
        if not isinstance(space, gym.spaces.Dict) or key not in space.spaces:
            raise ValueError(
                f"MessageReward needs a Dict observation space with key {key!r}, got {space}"
            )
        self.reward_fn, self.key, self.owns_reward_fn = reward_fn, key, owns_reward_fn
        self.c_ext, self.c_int, self.beta = float(c_ext), float(c_int), float(beta)
        self.counts: Counter[str] = Counter()
        """Messages seen in the current episode and how often."""

    def close(self) -> None:
        """Close the env, and ``reward_fn`` too when this env owns it."""
        try:
            super().close()
        finally:
            close = getattr(self.reward_fn, "close", None)
            if self.owns_reward_fn and callable(close):
                close()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.counts = Counter()
        return self.env.reset(seed=seed, options=options)

    def intrinsic(self, message: str) -> float:
        """Count this occurrence of ``message`` and return its decayed intrinsic reward."""
        if not message:
            return 0.0
        self.counts[message] += 1
        value = float(self.reward_fn(message))
        if not math.isfinite(value):
            raise ValueError(f"reward_fn returned {value} for {message!r}; rewards must be finite")
        return value / self.counts[message] ** self.beta if value else 0.0

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        raw = obs[self.key]
        # Most steps show no message: skip decoding, counting and the reward model then.
        message = "" if raw[0] == 0 else decode_message(raw)
        r_ext, r_int = float(reward), (self.intrinsic(message) if message else 0.0)
        total = self.c_ext * r_ext + self.c_int * r_int
        info.setdefault("reward_true", r_ext)  # an inner task's truth wins
        info["reward_ext"], info["reward_int"], info["reward_proxy"] = r_ext, r_int, total
        info["message_text"] = message
        return obs, total, terminated, truncated, info
