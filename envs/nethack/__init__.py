"""NetHack (nle) tasks and ONI message rewards.

- :mod:`advrl.envs.nethack.tasks`: Score, Oracle, OracleSober, Staircase 3/4 on nle, with
  ``info["reward_true"]`` / ``info["reward_proxy"]`` (imports nle; reached lazily through
  ``gym.make("advrl/NetHack...")``).
- :mod:`advrl.envs.nethack.messages`: the ONI intrinsic reward wrapper
  :class:`~advrl.envs.nethack.messages.MessageReward`.
- :mod:`advrl.envs.nethack.annotators`: message annotators (keyword rules, chat endpoint).
- :mod:`advrl.envs.nethack.service`: the label store and the asynchronous annotation service.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: ``from advrl.envs.nethack import MessageReward`` needs no nle.
_HOMES = {
    "MessageReward": "messages",
    "AnnotationService": "service",
    "LabelStore": "service",
    "ChatAnnotator": "annotators",
    "KeywordAnnotator": "annotators",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
