"""Policy smoothing with certified lower bounds on total reward (Kumar et al., ICLR 2022).

``from advrl.agents.smoothing import certify`` is the function (imported here, after the
submodule of the same name, so the package attribute is the function, not the module).
``advrl.agents.smoothing.vector.SmoothObservation`` smooths a Gymnasium vector env.
"""

from advrl.agents.smoothing import vector
from advrl.agents.smoothing.attack import SmoothedPGD
from advrl.agents.smoothing.certify import Certificate, certify, min_episodes
from advrl.agents.smoothing.rollout import RolloutResult, SmoothedTask, smoothed_rollouts
from advrl.agents.smoothing.wrappers import SmoothObservation, VecSmoothObservation, check_sigma

__all__ = [
    "Certificate",
    "RolloutResult",
    "SmoothObservation",
    "SmoothedPGD",
    "SmoothedTask",
    "VecSmoothObservation",
    "certify",
    "check_sigma",
    "min_episodes",
    "smoothed_rollouts",
    "vector",
]
