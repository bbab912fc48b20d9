"""QARL: quantal adversarial RL with a Gamma temperature curriculum (Reddi et al. 2024)."""

from advrl.agents.qarl.curriculum import (
    GammaTemperature,
    LinearCurriculum,
    SelfPacedCurriculum,
    gamma_kl,
    self_paced_step,
)
from advrl.agents.qarl.sac import TemperatureSAC
from advrl.agents.qarl.temperature import AppendTemperature
from advrl.agents.qarl.trainer import QARL

__all__ = [
    "QARL",
    "AppendTemperature",
    "GammaTemperature",
    "LinearCurriculum",
    "SelfPacedCurriculum",
    "TemperatureSAC",
    "gamma_kl",
    "self_paced_step",
]
