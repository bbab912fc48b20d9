"""PPO on a composite reward whose components are kept at or below their proxy points by
learned Lagrange multipliers (Moskovitz et al. 2023, μ-PPO with the paper's inequality
constraints; :mod:`advrl.agents.constrained.lagrange` has the maths).

Extends SB3 PPO at its seams: the env is wrapped in
:class:`~advrl.agents.constrained.rewards.VecComposeRewards`, which returns the weighted sum
of the components (weights ``1 - mu``), and after each rollout the multipliers take one dual
step on the component returns of the episodes that finished in it.

Where this differs from the authors' code (ConstrainedRL4LMs): one value head learns the
combined reward, whose weights change between rollouts, where the reference keeps a value
head per component and mixes their advantages with the current multipliers; and the
multipliers step once per rollout on its episodes' returns, where the reference steps once
per minibatch on the rollout's mean reward-to-go (so one of our steps is worth several of
theirs: the default learning rate is larger).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

from advrl.agents.constrained.lagrange import (
    check_sense,
    check_step_settings,
    component_weights,
    logits_for,
    multiplier_step,
    multipliers,
)
from advrl.agents.constrained.rewards import VecComposeRewards, _check_names


def check_thresholds(
    components: Sequence[str], thresholds: Mapping[str, float | None] | Sequence[float | None]
) -> dict[str, float]:
    """``{component: threshold}`` for the constrained components, or a ``ValueError``: a
    threshold for an unknown component, a constraint without a (finite) threshold, a list
    of thresholds whose length differs from the components', or no constraint at all."""
    components = _check_names(components, "components")
    if isinstance(thresholds, Mapping):
        pairs = list(thresholds.items())
    elif isinstance(thresholds, Sequence) and not isinstance(thresholds, str):
        if len(thresholds) != len(components):
            raise ValueError(f"got {len(thresholds)} thresholds for {len(components)} components "
                             f"{list(components)}; give one per component or a "
                             "{name: threshold} dict")  # fmt: skip
        pairs = list(zip(components, thresholds, strict=True))
    else:
        raise TypeError(f"thresholds must be a dict or a list, got {type(thresholds).__name__}")
    if not pairs:
        raise ValueError("no constraint given: thresholds is empty (use PPO for the plain sum)")
    out = {}
    for name, value in pairs:
        if name not in components:
            raise ValueError(f"constraint on unknown component {name!r}; components: "
                             f"{list(components)}")  # fmt: skip
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"constraint on {name!r} has no threshold (got {value!r}); give a "
                             "finite number, its proxy point (see find_proxy_points)")  # fmt: skip
        out[name] = float(value)
    return out


class ConstrainedPPO(PPO):
    """PPO on ``sum_i w_i r_i`` with ``w_i = 1 - mu_i`` and ``mu`` the Lagrange multipliers of
    ``return_i <= threshold_i`` (``sense="upper"``) or ``== threshold_i`` (``"equal"``).

    Args:
        policy, env: as for SB3 PPO; ``env`` is a VecEnv whose infos carry
            ``reward_<name>`` per component (MuJoCo's reward parts, or learned ones from
            :class:`~advrl.agents.constrained.rewards.VecRewardComponents`).
        components: every component summed into the reward; those without a threshold keep
            weight 1.
        thresholds: the proxy points, per episode return: ``{name: value}`` or a list with
            one per component.
        sense: ``"upper"`` (default) or ``"equal"``.
        multiplier_lr, multiplier_momentum, multiplier_max_grad_norm: the dual's SGD.
        multiplier_bound: ``mu_max``: multipliers lie in ``(0, mu_max)`` (upper) or
            ``(-mu_max, mu_max)`` (equal).
        multiplier_init: the starting multiplier (default 0.05: almost the plain sum).
        **kwargs: the rest of SB3 PPO's arguments (``device=`` among them).

    The multipliers are logged as ``constrained/mu_<name>``, the weights as
    ``constrained/weight_<name>`` and the last returns as ``constrained/return_<name>``;
    they are saved with the model (``multiplier_logits``, ``multiplier_velocity``).

    Example:
        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> model = ConstrainedPPO("MlpPolicy", make_vec_env("HalfCheetah-v5", 2, seed=0),
        ...                        components=["forward", "ctrl"], thresholds={"forward": 0.0},
        ...                        n_steps=64, batch_size=64, n_epochs=1,
        ...                        policy_kwargs=dict(net_arch=[8]))
        >>> model.learn(128).num_timesteps
        128
    """

    def __init__(
        self,
        policy: Any,
        env: Any,
        *,
        components: Sequence[str] = (),
        thresholds: Mapping[str, float | None] | Sequence[float | None] | None = None,
        sense: str = "upper",
        multiplier_lr: float = 1.0,
        multiplier_momentum: float = 0.1,
        multiplier_max_grad_norm: float | None = 0.5,
        multiplier_bound: float = 2.0,
        multiplier_init: float = 0.05,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        if _init_setup_model:  # SB3's load() restores these from the file instead
            self.sense = check_sense(sense)
            self.components = _check_names(components, "components")
            if thresholds is None:
                raise ValueError("thresholds is required: the proxy point of each constrained "
                                 "component (see find_proxy_points)")  # fmt: skip
            self.thresholds = check_thresholds(self.components, thresholds)
            check_step_settings(multiplier_lr, multiplier_momentum, multiplier_max_grad_norm)
            if not (math.isfinite(multiplier_bound) and multiplier_bound > 0):
                raise ValueError(f"multiplier_bound must be a finite number > 0, got "
                                 f"{multiplier_bound!r}")  # fmt: skip
            self.multiplier_lr, self.multiplier_momentum = multiplier_lr, multiplier_momentum
            self.multiplier_max_grad_norm = multiplier_max_grad_norm
            self.multiplier_bound = float(multiplier_bound)
            n = len(self.thresholds)
            self.multiplier_logits = np.full(n, float(logits_for(multiplier_init, sense,
                                                                 multiplier_bound)))  # fmt: skip
            self.multiplier_velocity = np.zeros(n)
            if env is not None and not isinstance(env, VecEnv):
                raise TypeError(f"env must be an SB3 VecEnv (e.g. make_vec_env(...)), got "
                                f"{type(env).__name__}")  # fmt: skip
        super().__init__(policy, env, _init_setup_model=_init_setup_model, **kwargs)

    @property
    def multipliers(self) -> dict[str, float]:
        """``{constrained component: mu}``."""
        mu = multipliers(self.multiplier_logits, self.sense, self.multiplier_bound)
        return dict(zip(self.thresholds, mu.tolist(), strict=True))

    @property
    def weights(self) -> dict[str, float]:
        """``{component: weight}`` of the composite reward (1 where unconstrained)."""
        w = dict(zip(self.thresholds, component_weights(list(self.multipliers.values())).tolist(),
                     strict=True))  # fmt: skip
        return {c: w.get(c, 1.0) for c in self.components}

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.env is not None:
            self.env = self._compose(self.env)

    def _compose(self, env: VecEnv) -> VecComposeRewards:
        if not isinstance(env, VecComposeRewards):
            # A component the env's infos lack is named by the first step, before any update.
            env = VecComposeRewards(env, self.components)
        env.set_weights(list(self.weights.values()))
        return env

    def set_env(self, env: VecEnv, force_reset: bool = True) -> None:
        super().set_env(self._compose(env), force_reset)

    def collect_rollouts(self, env, callback, rollout_buffer, n_rollout_steps: int) -> bool:
        if not super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps):
            return False
        self._dual_step(env.pop_episodes())
        return True

    def _dual_step(self, episodes: np.ndarray) -> None:
        """One multiplier step on the mean component returns of ``episodes`` (none: no step),
        then the new weights go to the env for the next rollout."""
        index = [self.components.index(c) for c in self.thresholds]
        if len(episodes):
            returns = episodes[:, index].mean(axis=0)
            self.multiplier_logits, self.multiplier_velocity = multiplier_step(
                self.multiplier_logits, self.multiplier_velocity, returns,
                np.array(list(self.thresholds.values())), lr=self.multiplier_lr,
                sense=self.sense, bound=self.multiplier_bound,
                momentum=self.multiplier_momentum, max_grad_norm=self.multiplier_max_grad_norm,
            )  # fmt: skip
            for name, value in zip(self.thresholds, returns.tolist(), strict=True):
                self.logger.record(f"constrained/return_{name}", value)
        self.env.set_weights(list(self.weights.values()))
        for name, mu in self.multipliers.items():
            self.logger.record(f"constrained/mu_{name}", mu)
        for name, w in self.weights.items():
            self.logger.record(f"constrained/weight_{name}", w)
