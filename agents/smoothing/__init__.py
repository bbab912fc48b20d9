"""Policy smoothing with certified lower bounds on total reward (Kumar et al., ICLR 2022)."""

from advrl.agents.smoothing.wrappers import SmoothObservation, VecSmoothObservation, check_sigma

__all__ = ["SmoothObservation", "VecSmoothObservation", "check_sigma"]
