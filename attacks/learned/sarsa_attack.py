"""The Robust Sarsa attacks: PGD on a learned critic ``Q(s, pi(s~))`` (RS) and RS+MAD.

The critic comes from :func:`~advrl.attacks.learned.robust_sarsa.train_robust_sarsa` or a
file (:func:`~advrl.attacks.learned.robust_sarsa.load_attack`); the conventions (start,
step size, steps, objective) are the reference's, listed in
:mod:`advrl.attacks.learned.robust_sarsa`.
"""

from __future__ import annotations

import torch as th

from advrl.attacks import losses
from advrl.attacks.balls import uniform_in_ball
from advrl.attacks.base import check_real
from advrl.attacks.gradient import PGD, Loss
from advrl.attacks.learned.qnet_format import QNetwork
from advrl.types import Norm, TorchPolicy


class RobustSarsaAttack(PGD):
    """Minimise the learned ``Q(s, pi(s~))`` over ``s~`` in the eps-ball (SA-PPO RS attack).

    ``s`` is the clean observation, ``pi`` the victim's mean action. Random start in the
    one-step ball, then ``steps`` signed-gradient (l_2: unit-gradient) descent steps of
    ``step_size`` (default ``eps / steps``), each projected onto the ball.

    Args:
        eps: ball radius in the victim's input space. norm: ``"linf"`` or ``"l2"``.
        q_net: the critic (:func:`~advrl.attacks.learned.robust_sarsa.train_robust_sarsa`,
            :func:`~advrl.attacks.learned.robust_sarsa.load_attack`).
        steps: PGD steps (default 10). step_size: default ``eps / steps``.
        action_ratio: weight ``r`` of the MAD term (0 here; :class:`RobustSarsaMAD`: 0.5).

    Example:
        >>> from advrl.testing import LinearPolicy
        >>> q_net = QNetwork(2, 1, hidden=())          # Q(s, a) = a: a larger action is better
        >>> _ = q_net.q[0].weight.data.copy_(th.tensor([[0.0, 0.0, 1.0]]))
        >>> policy = LinearPolicy(th.tensor([[1.0, -1.0]]))
        >>> adv = RobustSarsaAttack(0.1, q_net=q_net)(th.zeros(1, 2), policy, th.Generator())
        >>> policy.action(adv).item() < -0.18         # pushed towards (-eps, +eps)
        True
    """

    name = "rs"
    default_step_scale = 1.0
    default_action_ratio = 0.0

    def __init__(
        self,
        eps: float,
        norm: Norm = "linf",
        *,
        q_net: QNetwork,
        steps: int = 10,
        step_size: float | None = None,
        action_ratio: float | None = None,
    ) -> None:
        super().__init__(eps, norm, steps, step_size, random_start=True)
        if not isinstance(q_net, QNetwork):
            raise TypeError(f"q_net must be a QNetwork (load one with load_attack), got "
                            f"{type(q_net).__name__}")  # fmt: skip
        self.q_net = q_net.eval()
        ratio = type(self).default_action_ratio if action_ratio is None else action_ratio
        self.action_ratio = check_real(ratio, "action_ratio", "a number in [0, 1]",
                                       lambda r: 0 <= r <= 1)  # fmt: skip

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, action_ratio={self.action_ratio:g})"

    def start(self, obs: th.Tensor, generator: th.Generator | None) -> th.Tensor:
        return obs + uniform_in_ball(obs, self.step_size, self.norm, generator)

    def objective(self, policy: TorchPolicy, obs: th.Tensor) -> Loss:
        q_net, ratio = self.q_net, self.action_ratio
        act_dim = getattr(policy.action_space, "shape", None)
        if policy.is_discrete or act_dim != (q_net.act_dim,):
            raise ValueError(f"this critic scores {q_net.act_dim}-dim continuous actions; the "
                             f"victim acts in {policy.action_space}")  # fmt: skip
        if obs[0].numel() != q_net.obs_dim:
            raise ValueError(f"this critic scores {q_net.obs_dim}-dim observations, got "
                             f"shape {tuple(obs.shape[1:])}")  # fmt: skip
        device = next(q_net.parameters()).device
        clean = obs.detach().to(device)

        def loss(policy: TorchPolicy, x: th.Tensor, ref: losses.Reference) -> th.Tensor:
            action = policy.action(x)
            value = q_net(clean, action.to(device)).to(x.device)
            if ratio == 0:
                return -value
            change = losses.mad_divergence(policy, x, ref) / q_net.act_dim  # the mean over dims
            return ratio * change - (1.0 - ratio) * value  # ascent on minus the reference's loss

        return loss


class RobustSarsaMAD(RobustSarsaAttack):
    """RS+MAD: minimise ``(1 - r) Q(s, pi(s~)) - r mean_i ((pi(s~) - pi(s)) / sigma_i)^2``
    with ``r = action_ratio`` (default 0.5, the reference's ``attack_sarsa_action_ratio``;
    its scan tries 1e-6 .. 3e-2, as the critic's scale dwarfs the action change).

    Example:
        >>> RobustSarsaMAD(0.1, q_net=QNetwork(2, 1, hidden=(4,)))
        RobustSarsaMAD(eps=0.1, norm='linf', steps=10, step_size=0.01, action_ratio=0.5)
    """

    name = "rs_mad"
    default_action_ratio = 0.5
