"""ORPO: occupancy-measure regularisation against reward hacking (Laidlaw et al. 2024).

The discriminator and the divergence maths, the ORPO trainer (an SB3 PPO subclass) and the
action-distribution baseline (:class:`ActionKLPPO`), with the reference code's conventions
(penalty-only reward clip, horizon-scaled action-divergence coefficient, KL fallback where
chi^2 diverges).
"""

from advrl.agents.orpo.discriminator import Discriminator
from advrl.agents.orpo.divergences import (
    DIVERGENCES,
    categorical_chi2,
    categorical_chi2_or_kl,
    categorical_kl,
    chi2_estimate,
    gaussian_chi2,
    gaussian_chi2_or_kl,
    gaussian_kl,
    occupancy_penalty,
    penalised_reward,
    trimmed_mean,
)

__all__ = [
    "DIVERGENCES",
    "Discriminator",
    "categorical_chi2",
    "categorical_chi2_or_kl",
    "categorical_kl",
    "chi2_estimate",
    "gaussian_chi2",
    "gaussian_chi2_or_kl",
    "gaussian_kl",
    "occupancy_penalty",
    "penalised_reward",
    "trimmed_mean",
]

from advrl.agents.orpo.ppo import ORPO  # noqa: E402  (depends on the modules above)

__all__ += ["ORPO"]
from advrl.agents.orpo.action_kl import ActionKLPPO  # noqa: E402
from advrl.agents.orpo.reference import EpsilonReference  # noqa: E402

__all__ += ["ActionKLPPO", "EpsilonReference"]
