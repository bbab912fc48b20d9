"""Constrained optimisation of composite rewards (Moskovitz et al. 2023, "Confronting Reward
Model Overoptimization with Constrained RLHF").

- :mod:`.lagrange`: the multipliers' parametrisation, their dual step, the weights they give.
- :mod:`.proxy_points`: find each component's proxy point from unconstrained runs.
- :mod:`.rewards`: learned component rewards in ``info`` and their weighted sum (VecEnvs).
- :mod:`.ppo`: :class:`ConstrainedPPO`, PPO on the composite kept below the proxy points.
"""

from advrl.agents.constrained.lagrange import (
    SENSES,
    component_weights,
    multiplier_gradient,
    multiplier_step,
    multipliers,
)
from advrl.agents.constrained.ppo import ConstrainedPPO, check_thresholds
from advrl.agents.constrained.proxy_points import ProxyPoints, find_proxy_points
from advrl.agents.constrained.rewards import VecComposeRewards, VecRewardComponents

__all__ = [
    "SENSES",
    "ConstrainedPPO",
    "ProxyPoints",
    "VecComposeRewards",
    "VecRewardComponents",
    "check_thresholds",
    "component_weights",
    "find_proxy_points",
    "multiplier_gradient",
    "multiplier_step",
    "multipliers",
]
