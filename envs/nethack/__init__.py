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

from advrl.lazy_exports import lazy_exports

# Loaded on first use: ``from advrl.envs.nethack import MessageReward`` needs no nle.
_HOMES = {
    "MessageReward": "messages",
    "AnnotationService": "service",
    "LabelStore": "service",
    "ChatAnnotator": "annotators",
    "KeywordAnnotator": "annotators",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
