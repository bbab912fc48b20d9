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
from stable_baselines3.common.vec_env import DummyVecEnv

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
    """Map adversary actions in ``[-1, 1]^d`` (last axis) onto the eps-ball (clipped first)."""
    delta = eps * np.clip(action, -1.0, 1.0)
    if norm == "linf":
        return delta
    batch = th.as_tensor(delta).reshape(-1, delta.shape[-1])
    return project(batch, eps, norm).reshape(delta.shape).numpy()


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
        """The perturbations, in the victim's normalised space, that a batch of actions
        (shape ``(batch, *action_shape)``) asks for at ``obs_norm`` (shape (batch, obs_dim))."""
        action = np.asarray(action, dtype=np.float64).reshape(obs_norm.shape[0], -1)
        delta = perturbation_from_action(action, self.eps, self.norm)
        return th.as_tensor(delta, dtype=obs_norm.dtype, device=obs_norm.device)

    # Batched internals, shared by this env (batch of one) and VecObservationAdversary.

    @classmethod
    def play_batch(cls, envs: list[ObservationAdversaryEnv], actions: np.ndarray) -> list[tuple]:
        """One step of a batch of these games (:func:`play_step`); a game with another
        reward (RAT's) overrides it, and both batched twins call it."""
        return play_step(envs, actions)

    def normalise(self, raw: np.ndarray) -> th.Tensor:
        """Raw task observations (batch, obs_dim) -> the victim's normalised ones."""
        raw_t = th.as_tensor(raw, dtype=th.float32, device=self.policy.device)
        with th.no_grad():
            return self.policy.normalize(raw_t)

    def perturbed(self, action: np.ndarray, clean: th.Tensor) -> th.Tensor:
        """What the victim sees: clean + perturbation, clipped as VecNormalize clips."""
        out = clean + self.perturbation(action, clean)
        clip = getattr(getattr(self.policy, "normalizer", None), "clip", None)
        return out if clip is None else out.clamp(-clip, clip)

    def victim_actions(self, obs: th.Tensor, rngs: list[np.random.Generator]) -> np.ndarray:
        """The victim's actions on a batch, sampled with one generator per row unless
        ``victim_deterministic``."""
        policy = self.policy
        with th.no_grad():
            if policy.is_discrete:
                logits = policy.action_logits(obs)
                if self.victim_deterministic:
                    return logits.argmax(-1).cpu().numpy()
                probs = th.softmax(logits.double(), -1).cpu().numpy()
                pairs = zip(rngs, probs, strict=True)
                return np.array([rng.choice(p.size, p=p / p.sum()) for rng, p in pairs])
            mean = policy.action(obs).cpu().numpy()
            if not self.victim_deterministic:
                std = policy.action_std(obs).cpu().numpy()
                noise = np.stack([rng.standard_normal(mean.shape[1:]) for rng in rngs])
                mean = mean + std * noise
        space = self.task.action_space
        return np.clip(mean, space.low, space.high).astype(space.dtype)

    def advance(self, victim_action: np.ndarray, clean: th.Tensor, perturbed: th.Tensor):
        """Step the task with the victim's action; the adversary's reward and info."""
        raw, reward, terminated, truncated, info = self.task.step(victim_action)
        info = dict(info)
        info["reward_victim"] = float(reward)
        info["obs_clean"] = clean.cpu().numpy()
        info["attack_norm"] = _norm(perturbed - clean, self.norm)
        return raw, -float(reward), terminated, truncated, info

    def set_observation(self, obs_norm: th.Tensor) -> np.ndarray:
        """Remember the current normalised observation (1, obs_dim); the adversary's view."""
        self._obs_norm = obs_norm
        return obs_norm[0].cpu().numpy().astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        raw, info = self.task.reset(seed=seed, options=options)
        return self.set_observation(self.normalise(raw[None])), info

    def step(self, action: np.ndarray):
        if self._obs_norm is None:
            raise RuntimeError("call reset() before step()")
        clean = self._obs_norm
        seen = self.perturbed(np.asarray(action)[None], clean)
        victim_action = self.victim_actions(seen, [self.np_random])[0]
        raw, reward, terminated, truncated, info = self.advance(victim_action, clean[0], seen[0])
        return self.set_observation(self.normalise(raw[None])), reward, terminated, truncated, info

    def close(self) -> None:
        self.task.close()


class VecObservationAdversary(DummyVecEnv):
    """The same game for ``n`` envs with one victim call per step for all of them.

    Each env keeps its own generator and task, so env ``i`` follows exactly the trajectory
    of a single :class:`ObservationAdversaryEnv` seeded alike (tested); only the victim's
    forward passes (normalise, act) are batched. Episode ends reset as DummyVecEnv does.

    Args:
        env_fns: factories of :class:`ObservationAdversaryEnv` (no wrappers: episode
            statistics come from a ``VecMonitor`` on top).
    """

    def __init__(self, env_fns: list) -> None:
        super().__init__(env_fns)
        for env in self.envs:
            if not isinstance(env, ObservationAdversaryEnv):
                raise TypeError(
                    "VecObservationAdversary needs unwrapped ObservationAdversaryEnv "
                    f"instances, got {type(env).__name__}; put a VecMonitor on top instead"
                )

    def step_wait(self):
        envs: list[ObservationAdversaryEnv] = self.envs  # type: ignore[assignment]
        if any(env._obs_norm is None for env in envs):
            raise RuntimeError("call reset() before step()")
        steps = type(envs[0]).play_batch(envs, self.actions)
        for i, (obs, reward, terminated, truncated, info) in enumerate(steps):
            self.buf_rews[i], self.buf_dones[i] = reward, terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if self.buf_dones[i]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = envs[i].reset()
            self.buf_infos[i] = info
            self._save_obs(i, obs)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), \
            list(self.buf_infos)  # fmt: skip


def play_step(envs: list[ObservationAdversaryEnv], actions: np.ndarray) -> list[tuple]:
    """One step of ``len(envs)`` games with one batched victim call: per env, the step's
    ``(adversary observation, reward, terminated, truncated, info)``, as its ``step`` gives.

    The engine of both batched twins (:class:`VecObservationAdversary` and the Gymnasium
    vector env); each handles episode ends as its API says. The first env's victim, and its
    perturbation (PA-AD's probe generator), serve the whole batch.
    """
    first = envs[0]
    clean = th.cat([env._obs_norm for env in envs])
    seen = first.perturbed(actions, clean)
    victim_actions = first.victim_actions(seen, [env.np_random for env in envs])
    steps = [env.advance(victim_actions[i], clean[i], seen[i]) for i, env in enumerate(envs)]
    normalised = first.normalise(np.stack([raw for raw, *_ in steps]))
    return [
        (env.set_observation(normalised[i : i + 1]), *rest)
        for i, (env, (_, *rest)) in enumerate(zip(envs, steps, strict=True))
    ]


def _norm(delta: th.Tensor, norm: Norm) -> float:
    flat = delta.reshape(-1)
    return float(flat.abs().max() if norm == "linf" else flat.norm())
