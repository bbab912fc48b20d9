"""BARFI: behaviour alignment via reward function optimisation (Gupta et al., NeurIPS 2023).

- :mod:`~advrl.agents.barfi.implicit`: Neumann-series implicit gradients (pure maths).
- :mod:`~advrl.agents.barfi.alignment`: the alignment reward ``r_phi`` and discount
  ``gamma_phi``.
- :mod:`~advrl.agents.barfi.trainer`: the bi-level loop (inner REINFORCE, outer implicit
  gradient); ``learn_reward=False`` is the naive ``r_p + r_aux`` baseline.
- :mod:`~advrl.agents.barfi.tasks` / :mod:`~advrl.agents.barfi.cartpole`: CartPole with a
  good or misleading PD-controller auxiliary reward, HalfCheetah (run reward vs control cost).
"""

from advrl.agents.barfi.alignment import AlignmentReward
from advrl.agents.barfi.cartpole import CartPoleAuxBatch
from advrl.agents.barfi.implicit import hvp_fn, implicit_gradient, neumann_inverse
from advrl.agents.barfi.rollout import PolicyNet, discounted_returns
from advrl.agents.barfi.tasks import AddControllerAux, SplitReward, pd_action
from advrl.agents.barfi.trainer import BARFI, BARFIConfig

__all__ = [
    "BARFI",
    "AddControllerAux",
    "AlignmentReward",
    "BARFIConfig",
    "CartPoleAuxBatch",
    "PolicyNet",
    "SplitReward",
    "discounted_returns",
    "hvp_fn",
    "implicit_gradient",
    "neumann_inverse",
    "pd_action",
]
