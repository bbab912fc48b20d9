"""Lipschitz-regularised value functions on SB3 critics.

Zheng, Wang, Xu & Huang (ICLR 2023), "Is Model Ensemble Necessary? Model-based RL via a
Single Model with Lipschitz Regularized Value Function", bound the value function's
Lipschitz constant in two ways, each of which replaces a dynamics-model ensemble:

- spectral normalisation of the value net's layers
  (:class:`~advrl.agents.lipschitz_critics.policy.LipschitzValuePolicy`);
- robust (adversarial-noise) regularisation, ``E_s max_{||d||_inf <= eps} (V(s + d) - V(s))^2``
  added to the value loss, the inner max found by projected gradient ascent
  (:func:`~advrl.agents.lipschitz_critics.penalties.adversarial_value_penalty`).

A third option is the gradient penalty of Blonde et al. 2022 on ``V`` w.r.t. the
observations (:func:`~advrl.agents.lipschitz_critics.penalties.value_gradient_penalty`).
:class:`~advrl.agents.lipschitz_critics.ppo.LipschitzPPO` carries all three and logs a
local Lipschitz estimate of ``V`` (``train/value_lipschitz``) every update.

Everything acts in the policy's input space (under ``VecNormalize``: the normalised one,
where the attacks' budgets live). The penalties take any ``fn(obs, *rest)``, so a Q critic
``Q(s, a)`` (SAC/TD3) is regularised the same way, perturbing only ``s``.
"""

from advrl.agents.lipschitz_critics.penalties import (
    PENALTIES,
    VALUE_SITES,
    adversarial_states,
    adversarial_value_penalty,
    check_value_gradient_path,
    value_fn,
    value_gradient_penalty,
)
from advrl.agents.lipschitz_critics.policy import LipschitzValuePolicy
from advrl.agents.lipschitz_critics.ppo import LipschitzPPO

__all__ = [
    "PENALTIES",
    "VALUE_SITES",
    "LipschitzPPO",
    "LipschitzValuePolicy",
    "adversarial_states",
    "adversarial_value_penalty",
    "check_value_gradient_path",
    "value_fn",
    "value_gradient_penalty",
]
