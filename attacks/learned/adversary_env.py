"""The optimal-attack game as a Gymnasium env: the adversary's action is the perturbation.

Zhang et al. 2021 ("Robust RL on State Observations with Learned Optimal Adversary") show
that, for a fixed victim, the worst observation perturbation is itself an MDP policy: it sees
the state, picks a perturbation in the ball, and is rewarded with the negated victim reward.
This env is that MDP, so any SB3 algorithm trains the adversary with no special code.

The adversary observes the victim's *normalised* observation (the attack space of the
SA-PPO protocol) and acts in ``Box(-1, 1)^d``; the action, clipped to the box as SB3 does
(the reference's ``hardtanh``), is scaled by ``eps`` (l_inf) or projected onto the l_2 ball.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch as th

from advrl.attacks.balls import NORMS, project
from advrl.attacks.base import check_bool, check_real
from advrl.attacks.learned.victims import check_same_victim, load_victim
from advrl.types import Norm, TorchPolicy


class Victim(Protocol):
    """What the adversary env needs from a victim (a zoo policy, or one being trained)."""

    env_id: str
    env_kwargs: dict[str, Any]

    def torch_policy(self) -> TorchPolicy: ...


def perturbation_from_action(action: np.ndarray, eps: float, norm: Norm) -> np.ndarray:
    """Map an adversary action in ``[-1, 1]^d`` onto the eps-ball (clipped first)."""
    delta = eps * np.clip(action, -1.0, 1.0)
    if norm == "linf":
        return delta
    return project(th.as_tensor(delta)[None], eps, norm)[0].numpy()


class ObservationAdversaryEnv(gym.Env):
    """Perturb a frozen victim's observations; reward: minus the victim's reward.

    Args:
        victim: zoo name or zoo-format ``.safetensors`` file (or, from Python, a loaded
            :class:`~advrl.zoo.ZooPolicy`, e.g. a victim being trained by ATLA).
        eps: budget in the victim's normalised observation space, > 0.
        norm: ``"linf"`` or ``"l2"``.
        victim_digest: the victim checkpoint's digest the adversary was trained for; a
            different victim is refused (see :mod:`advrl.attacks.learned.victims`).
        victim_deterministic: the victim acts with its mean action (the evaluation
            protocol). The default, False, samples as the reference's training does.

    Info: ``reward_victim`` (the victim's reward), ``attack_norm`` and ``obs_clean``.

    Example:
        >>> env = ObservationAdversaryEnv("ppo-cartpole", eps=0.5)
        >>> obs, _ = env.reset(seed=0)
        >>> obs, reward, *_, info = env.step(env.action_space.sample())
        >>> reward == -info["reward_victim"], bool(info["attack_norm"] <= 0.5)
        (True, True)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        victim: Any = "ppo-cartpole",
        eps: float = 0.5,
        norm: Norm = "linf",
        victim_digest: str | None = None,
        victim_deterministic: bool = False,
    ) -> None:
        self.eps = check_real(eps, "eps", "a finite number > 0", lambda e: e > 0)
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; allowed: {list(NORMS)}")
        self.norm: Norm = norm
        self.victim_deterministic = check_bool(victim_deterministic, "victim_deterministic")
        if isinstance(victim, str):
            check_same_victim(victim, victim, victim_digest)
            victim = load_victim(victim)
        self.victim = victim
        self.policy = victim.torch_policy()
        self.task = gym.make(victim.env_id, **victim.env_kwargs)
        if not isinstance(self.task.observation_space, gym.spaces.Box):
            raise TypeError(
                f"observation attacks need a Box observation space, got "
                f"{self.task.observation_space}"
            )
        shape = self.task.observation_space.shape
        # Normalised observations are clipped by VecNormalize; raw ones keep the task's bounds.
        clip = getattr(getattr(self.policy, "normalizer", None), "clip", None)
        if clip is None:
            space = self.task.observation_space
            self.observation_space = gym.spaces.Box(space.low, space.high, shape, np.float32)
        else:
            self.observation_space = gym.spaces.Box(-clip, clip, shape, np.float32)
        self.action_space = self.make_action_space()
        self._obs_norm: np.ndarray | None = None

    def set_policy(self, policy: TorchPolicy) -> None:
        """Attack another view of the victim (ATLA refreshes the normaliser's statistics
        after each victim phase; the weights are shared with the learner already)."""
        self.policy = policy

    def make_action_space(self) -> gym.spaces.Box:
        """The adversary's action space (PA-AD's director acts in another one)."""
        return gym.spaces.Box(-1.0, 1.0, self.observation_space.shape, np.float32)

    def perturbation(self, action: np.ndarray, obs_norm: th.Tensor) -> th.Tensor:
        """The perturbation, in the victim's normalised space, that ``action`` asks for."""
        delta = perturbation_from_action(np.asarray(action, dtype=np.float64), self.eps, self.norm)
        return th.as_tensor(delta, dtype=obs_norm.dtype)[None]

    def _normalise(self, raw: np.ndarray) -> th.Tensor:
        raw_t = th.as_tensor(raw, dtype=th.float32, device=self.policy.device)[None]
        with th.no_grad():
            return self.policy.normalize(raw_t)

    def _victim_action(self, obs: th.Tensor) -> np.ndarray:
        policy = self.policy
        with th.no_grad():
            if policy.is_discrete:
                logits = policy.action_logits(obs)[0]
                if self.victim_deterministic:
                    return np.asarray(int(logits.argmax()))
                probs = th.softmax(logits.double(), -1).cpu().numpy()
                return np.asarray(self.np_random.choice(len(probs), p=probs / probs.sum()))
            mean = policy.action(obs)[0].cpu().numpy()
            if not self.victim_deterministic:
                std = policy.action_std(obs)[0].cpu().numpy()
                mean = mean + std * self.np_random.standard_normal(mean.shape)
        space = self.task.action_space
        return np.clip(mean, space.low, space.high).astype(space.dtype)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        raw, info = self.task.reset(seed=seed, options=options)
        self._obs_norm = self._normalise(raw)
        return self._obs_norm[0].cpu().numpy().astype(np.float32), info

    def step(self, action: np.ndarray):
        if self._obs_norm is None:
            raise RuntimeError("call reset() before step()")
        clean = self._obs_norm
        delta = self.perturbation(action, clean)
        clip = getattr(getattr(self.policy, "normalizer", None), "clip", None)
        perturbed = clean + delta
        if clip is not None:  # as VecNormalize clips the victim's input
            perturbed = perturbed.clamp(-clip, clip)
        raw, reward, terminated, truncated, info = self.task.step(self._victim_action(perturbed))
        info = dict(info)
        info["reward_victim"] = float(reward)
        info["obs_clean"] = clean[0].cpu().numpy()
        info["attack_norm"] = float(_norm(perturbed - clean, self.norm))
        self._obs_norm = self._normalise(raw)
        obs = self._obs_norm[0].cpu().numpy().astype(np.float32)
        return obs, -float(reward), terminated, truncated, info

    def close(self) -> None:
        self.task.close()


def _norm(delta: th.Tensor, norm: Norm) -> float:
    flat = delta.reshape(-1)
    return float(flat.abs().max() if norm == "linf" else flat.norm())
