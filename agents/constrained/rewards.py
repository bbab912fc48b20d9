"""Composite rewards for SB3 VecEnvs: named component rewards in ``info`` and their weighted sum.

- :class:`VecRewardComponents` evaluates learned reward models (anything with the
  :class:`~advrl.envs.learned_reward.RewardModel` interface) on each transition and writes
  each as ``info["reward_<name>"]``, one batched forward pass per model per step.
- :class:`VecComposeRewards` returns ``sum_i w_i * info["reward_<name_i>"]`` with weights the
  learner may change between rollouts (:class:`~advrl.agents.constrained.ConstrainedPPO`
  sets them from its Lagrange multipliers), and keeps the ground-truth contract:
  ``info["reward_true"]`` (the inner env's truth, else its reward) and
  ``info["reward_proxy"]`` (what it returns). Components may be the env's own reward parts
  (MuJoCo's ``reward_forward`` / ``reward_ctrl``) or learned ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from advrl.envs.learned_reward import VecTransitionWrapper, _check_model, predict_rewards


def _check_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{what} must be a non-empty list of non-empty names, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} has duplicate names: {list(names)}")
    return names


class VecRewardComponents(VecTransitionWrapper):
    """Write each learned model's reward of ``(obs, action, next_obs)`` into
    ``info["reward_<name>"]``; the returned reward and every other info key are untouched.
    Where an episode ended, ``next_obs`` is ``info["terminal_observation"]``.

    Example:
        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> from advrl.agents.reward_models import RewardNet
        >>> venv = make_vec_env("Pendulum-v1", 2, seed=0)
        >>> net = RewardNet(venv.observation_space, venv.action_space, (8,))
        >>> venv = VecRewardComponents(venv, {"rm": net})
        >>> _ = venv.reset()
        >>> _, _, _, infos = venv.step(np.zeros((2, 1), dtype=np.float32))
        >>> "reward_rm" in infos[0]
        True
    """

    def __init__(self, venv: VecEnv, models: Mapping[str, object]) -> None:
        super().__init__(venv)
        self.reward_components = _check_names(list(models), "models")
        for model in models.values():
            _check_model(model)
        self.models = dict(models)

    def transition_step(self, obs, actions, next_obs, rewards, infos) -> np.ndarray:
        for name, model in self.models.items():
            key = f"reward_{name}"
            if key in infos[0]:  # e.g. "forward" would hide MuJoCo's true reward_forward
                raise ValueError(f"component {name!r} would overwrite the env's info[{key!r}]; "
                                 "give the learned component another name")  # fmt: skip
            values, _ = predict_rewards(model, obs, actions, next_obs)
            for info, value in zip(infos, values.tolist(), strict=True):
                info[key] = value
        return rewards


class VecComposeRewards(VecEnvWrapper):
    """Return the weighted sum of named component rewards read from ``info``.

    Args:
        venv: a VecEnv whose infos carry ``reward_<name>`` for every component.
        components: the components' names.
        weights: their weights (default all 1: the unconstrained sum); change them with
            :meth:`set_weights`.

    The per-step component rewards of every episode are summed; :meth:`pop_episodes`
    returns (and forgets) the component returns of the episodes finished since its last
    call, shape ``(episodes, components)``.

    Example:
        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> venv = VecComposeRewards(make_vec_env("HalfCheetah-v5", 1, seed=0),
        ...                          ["forward", "ctrl"], weights=[1.0, 0.5])
        >>> _ = venv.reset()
        >>> _, r, _, infos = venv.step(np.ones((1, 6), dtype=np.float32))
        >>> i = infos[0]
        >>> bool(np.isclose(r[0], i["reward_forward"] + 0.5 * i["reward_ctrl"], atol=1e-5))
        True
    """

    def __init__(
        self, venv: VecEnv, components: Sequence[str], weights: Sequence[float] | None = None
    ) -> None:
        super().__init__(venv)
        self.components = _check_names(components, "components")
        self.keys = [f"reward_{n}" for n in self.components]
        self.weights = np.ones(len(self.components))
        if weights is not None:
            self.set_weights(weights)
        self._sums = np.zeros((venv.num_envs, len(self.components)))
        self._finished: list[np.ndarray] = []

    def set_weights(self, weights: Sequence[float]) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.components),) or not np.all(np.isfinite(w)):
            raise ValueError(f"need {len(self.components)} finite weights for "
                             f"{list(self.components)}, got {weights!r}")  # fmt: skip
        self.weights = w

    def pop_episodes(self) -> np.ndarray:
        """Component returns of the episodes finished since the last call, ``(e, k)``."""
        done = np.array(self._finished).reshape(-1, len(self.components))
        self._finished = []
        return done

    def reset(self) -> np.ndarray:
        self._sums[:] = 0.0
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(actions)

    def _values(self, info: dict) -> list[float]:
        try:
            return [float(info[k]) for k in self.keys]
        except KeyError:
            have = sorted(k for k in info if k.startswith("reward_"))
            missing = [k for k in self.keys if k not in info]
            raise ValueError(
                f"the env's info has no {missing}: components must be reward parts "
                f"the env (or a VecRewardComponents) writes; it has {have}"
            ) from None

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        parts = np.array([self._values(info) for info in infos])  # (n_envs, k)
        composite = parts @ self.weights
        self._sums += parts
        for i, (info, true, value) in enumerate(zip(infos, rewards.tolist(), composite.tolist(),
                                                    strict=True)):  # fmt: skip
            info.setdefault("reward_true", true)
            info["reward_proxy"] = value
            if dones[i]:
                self._finished.append(self._sums[i].copy())
                self._sums[i] = 0.0
        return obs, composite.astype(np.float32), dones, infos
