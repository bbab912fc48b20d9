"""Tasks and the wrappers that define a task.

The public classes are importable from here (``from advrl.envs import PerturbDynamics``);
each is loaded on first use, so ``import advrl.envs`` stays cheap and pulls neither MuJoCo
nor nle. Their Gymnasium vector versions (``ProxyReward``, ``LearnedReward``,
``AddCheapTalk``) live in :mod:`advrl.envs.vector`, as in ``gymnasium.wrappers.vector``.
"""

from __future__ import annotations

from advrl.lazy_exports import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
