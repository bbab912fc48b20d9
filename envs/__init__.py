"""Tasks and the wrappers that define a task.

The public classes are importable from here (``from advrl.envs import PerturbDynamics``);
each is loaded on first use, so ``import advrl.envs`` stays cheap and pulls neither MuJoCo
nor nle.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "AddCheapTalk": "cheap_talk",
    "VecAddCheapTalk": "cheap_talk",
    "CheapTalkEnv": "cheap_talk_game",
    "AgentView": "agent_view",
    "VecAgentView": "agent_view",
    "PerturbDynamics": "dynamics",
    "ForceAdversaryEnv": "forces",
    "LearnedReward": "learned_reward",
    "VecLearnedReward": "learned_reward",
    "ProxyReward": "proxy",
    "VecProxyReward": "proxy",
    "LogTrueAndProxyReturns": "proxy",
    "UseTrueReward": "proxy",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
