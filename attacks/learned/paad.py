"""PA-AD: a learned director picks a direction in action space; an actor follows it.

Sun et al., ICLR 2022, "Who Is the Strongest Enemy? Towards Optimal and Efficient Evasion
Attacks in Deep RL" (`umd-huang-lab/paad_adv_rl`). The director is an RL policy whose action
is a direction ``d`` in the victim's action space (continuous victims: the action mean;
discrete ones: the action probabilities). The actor finds the observation perturbation in
the eps-ball that moves the victim's output along ``d``, by sign-gradient steps on
``cos(pi(s~) - pi(s), d) + magnitude * |pi(s~) - pi(s)|_2``. The director is rewarded with
the negated victim reward, so SB3 PPO trains it on :class:`DirectionAdversaryEnv` with no
special code; :class:`PAADAttack` runs director and actor as a pure batched attack.

Matched from the reference (``code_mujoco/.../agent.py``: ``perturb_obs_fgsm``, mode
``adv_pa_ppo``; README's attacker command on ``config_<env>_vanilla_ppo.json``): the director
sees the victim's normalised observation and is a 64x64 tanh Gaussian MLP, state-independent
log-std starting at 0; the actor takes one step of size eps from the clean observation, its
gradient probed at a uniform point within eps/10 (``attack_steps`` 10), magnitude weight 1
(the Atari code's ``COEFF``); the victim samples its actions while the director trains;
rewards normalised by returns, clipped at 10; PPO with lr 3e-5 annealed linearly to 0, clip
0.4, no entropy bonus, 2048 steps per update in 32 minibatches, 10 epochs, gamma 0.99, GAE
lambda 0.95; evaluation uses the director's mean.

Where ours differs:

- **The actor ascends its objective.** The MuJoCo reference adds
  ``eps * sign(grad(-(cos + |da|)))``, moving the victim's action *against* the direction and
  shrinking the change; the paper and the reference's Atari actors (``dqn_dir_perturb_*``)
  ascend. A director can absorb the flipped cosine (``d -> -d``), not the flipped magnitude
  term: a bug, not a convention. Directors trained by the reference do not transfer.
- **Directions live in Box(-1, 1)^k**: SB3 clips the sampled action, the attack clips the
  mean (reference: the unbounded Gaussian's). The cosine ignores scale and every direction
  has a point in the box, so the same directions are reachable; exploration differs.
- **Options the reference lacks** (its values are the defaults): ``actor_steps`` > 1 (sign
  steps of ``eps / steps``, projected; the probe only at the first), the l_2 ball, ``probe``
  and ``magnitude``. On the Hopper victim one step follows ``d`` with a mean cosine of about
  0.65 (0.89 with ``probe=0``), ten steps with about 0.98.
- **PPO plumbing**: 8 envs x 256 steps per update (reference: 1 x 2048); one Adam for actor
  and critic (reference: two, both at 3e-5) with SB3's value-loss weight 0.5 and grad-norm
  clip 0.5 (reference: none; Adam makes both nearly scale-free); perturbed observations are
  clamped to the normaliser's +-clip, as the victim's input is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.utils import LinearSchedule

from advrl.attacks.balls import project, uniform_in_ball, unit_direction
from advrl.attacks.base import (
    Attack,
    check_bool,
    check_budget,
    check_length,
    check_positive_int,
    check_real,
)
from advrl.attacks.learned.adversary_env import ObservationAdversaryEnv
from advrl.attacks.learned.artifacts import load_sb3_adversary
from advrl.attacks.learned.optimal import TrainedAdversary, adversary_mean
from advrl.attacks.learned.ppo_adversary import train_ppo_adversary
from advrl.attacks.learned.victims import victim_digest
from advrl.types import Norm, TorchPolicy
from advrl.zoo.checkpoint import CheckpointError

ENV_ID = "advrl/DirectionAdversary-v0"

PPO_DIRECTOR: dict[str, Any] = dict(
    n_steps=256,  # x 8 envs: the reference's T = 2048 per update
    batch_size=64,  # 2048 / 32 minibatches
    n_epochs=10,
    learning_rate=3e-5,  # annealed linearly to 0 (anneal_lr), as the reference's
    gamma=0.99,
    gae_lambda=0.95,
    clip_range=0.4,
    ent_coef=0.0,
    policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=th.nn.Tanh),
)
"""The reference's PA-AD attacker settings (README command on the vanilla-PPO configs)."""


def policy_vector(policy: TorchPolicy, obs: th.Tensor) -> th.Tensor:
    """What the director's direction lives in, shape (batch, k): the deterministic action
    of a continuous victim, the action probabilities of a discrete one (the Atari code)."""
    if policy.is_discrete:
        return th.softmax(policy.action_logits(obs), dim=-1)
    return policy.action(obs)


def direction_dim(policy: TorchPolicy) -> int:
    """``k``, the size of a direction for ``policy`` (action dims or number of actions)."""
    space = policy.action_space
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0])
    raise TypeError(f"PA-AD needs a Discrete or flat Box action space, got {space}")


@dataclass(frozen=True)
class DirectionActor:
    """PA-AD's actor: the perturbation in the eps-ball that moves the victim along ``d``.

    ``x_0 = s``; ``x_{i+1} = s + Proj(x_i + step * u(grad J(x_i + p_i)) - s)`` with ``u`` the
    sign (l_inf) or unit gradient (l_2), ``J(x) = cos(pi(x) - pi(s), d) + magnitude *
    |pi(x) - pi(s)|_2`` and the probe ``p_0`` uniform in the ball of radius ``probe * eps``
    (``p_i = 0`` after: the cosine is singular at ``pi(x) = pi(s)``, nowhere else).

    Args:
        eps: ball radius, >= 0. norm: ``"linf"`` or ``"l2"``.
        steps: gradient steps (reference: 1). step_size: default ``eps / steps``.
        probe: radius of the first gradient's probe, as a fraction of eps (reference 0.1);
            0 takes it at the clean point, where torch's cosine (its norms clamped at 1e-8)
            has the gradient ``J_pi^T d / (1e-8 |d|)``: the linearised optimum's direction.
        magnitude: weight of the size of the action change (reference 1).

    Example:
        >>> from advrl.testing import LinearPolicy
        >>> W = th.tensor([[1.0, -2.0, 0.5], [0.5, 1.0, -1.0]])
        >>> actor = DirectionActor(0.1, probe=0.0)
        >>> d = th.tensor([[1.0, 1.0]])   # the best l_inf step is eps * sign(W^T d)
        >>> actor(th.zeros(1, 3), LinearPolicy(W), d).tolist()
        [[0.10000000149011612, -0.10000000149011612, -0.10000000149011612]]
    """

    eps: float
    norm: Norm = "linf"
    steps: int = 1
    step_size: float | None = None
    probe: float = 0.1
    magnitude: float = 1.0

    def __post_init__(self) -> None:
        # Plain floats for the lengths, so equal settings compare (and hash) equal.
        object.__setattr__(self, "eps", check_budget(self.eps, self.norm)[0])
        check_positive_int(self.steps, "steps")
        if self.step_size is not None:
            check_real(self.step_size, "step_size", "a finite number > 0", lambda s: s > 0)
            check_length(self.step_size, "step_size", self.norm, th.float64, 1)
        check_real(self.probe, "probe", "a number in [0, 1]", lambda p: 0 <= p <= 1)
        check_real(self.magnitude, "magnitude", "a finite number >= 0", lambda m: m >= 0)

    @property
    def step(self) -> float:
        return self.step_size if self.step_size is not None else self.eps / self.steps

    def objective(self, policy: TorchPolicy, x: th.Tensor, ref: th.Tensor, direction: th.Tensor):
        """``J`` per sample, shape (batch,); ``ref`` is ``policy_vector`` at the clean batch."""
        diff = policy_vector(policy, x) - ref
        return F.cosine_similarity(diff, direction, dim=-1) + self.magnitude * diff.norm(dim=-1)

    def __call__(self, obs: th.Tensor, policy: TorchPolicy, direction: th.Tensor,
                 generator: th.Generator | None = None) -> th.Tensor:  # fmt: skip
        """Perturbed observations (same shape and dtype, within eps of ``obs``).

        ``obs``: shape (batch, *obs_shape), in ``policy``'s input space; ``direction``: shape
        (batch, k), k = :func:`direction_dim` of ``policy``; ``generator``: for the probe.
        """
        obs = obs.detach()
        with th.no_grad():
            ref = policy_vector(policy, obs)
        if direction.shape != ref.shape:
            raise ValueError(
                f"direction has shape {tuple(direction.shape)}; this victim's directions "
                f"have shape {tuple(ref.shape)} (batch, {direction_dim(policy)})"
            )
        direction = direction.detach().to(ref.device, ref.dtype)
        x = obs
        for i in range(self.steps):
            at = x
            if i == 0 and self.probe > 0:
                at = x + uniform_in_ball(obs, self.probe * self.eps, self.norm, generator)
            at = at.detach().requires_grad_(True)
            with th.enable_grad():
                (grad,) = th.autograd.grad(self.objective(policy, at, ref, direction).sum(), at)
            x = x + self.step * unit_direction(grad, self.norm)
            x = obs + project(x - obs, self.eps, self.norm)
        return x.to(obs.dtype)


class DirectionAdversaryEnv(ObservationAdversaryEnv):
    """PA-AD's director game: act with a direction in the victim's action space.

    Observation and reward as :class:`ObservationAdversaryEnv` (the victim's normalised
    observation; minus the victim's reward). The action, in ``Box(-1, 1)^k`` (k: the
    victim's action dims, or its number of actions), is clipped and handed to the
    :class:`DirectionActor`, whose perturbation the victim then sees.

    Args:
        victim, eps, norm, victim_digest, victim_deterministic: as ObservationAdversaryEnv.
        actor_steps, step_size, probe, magnitude: the :class:`DirectionActor`'s settings.

    Example:
        >>> env = DirectionAdversaryEnv("ppo-cartpole", eps=0.5)
        >>> env.action_space.shape   # CartPole's two action probabilities
        (2,)
        >>> obs, _ = env.reset(seed=0)
        >>> obs, reward, *_, info = env.step(env.action_space.sample())
        >>> reward == -info["reward_victim"], bool(info["attack_norm"] <= 0.5)
        (True, True)
    """

    def __init__(
        self,
        victim: Any = "ppo-cartpole",
        eps: float = 0.5,
        norm: Norm = "linf",
        victim_digest: str | None = None,
        victim_deterministic: bool = False,
        actor_steps: int = 1,
        step_size: float | None = None,
        probe: float = 0.1,
        magnitude: float = 1.0,
    ) -> None:
        # Build (and so validate) the actor before the parent loads the victim.
        self.actor = DirectionActor(eps, norm, actor_steps, step_size, probe, magnitude)
        super().__init__(victim, eps, norm, victim_digest, victim_deterministic)

    def make_action_space(self) -> gym.spaces.Box:
        return gym.spaces.Box(-1.0, 1.0, (direction_dim(self.policy),), np.float32)

    def perturbation(self, action: np.ndarray, obs_norm: th.Tensor) -> th.Tensor:
        """The actor's perturbations for directions (batch, k) at ``obs_norm`` (batch, d)."""
        action = np.asarray(action, dtype=np.float64).reshape(obs_norm.shape[0], -1)
        direction = th.as_tensor(np.clip(action, -1.0, 1.0), dtype=obs_norm.dtype,
                                 device=obs_norm.device)  # fmt: skip
        # The probe's generator comes fresh from np_random (seeded by reset(seed=), pickled
        # with the env). In VecObservationAdversary the first env's serves the whole batch,
        # so with probe > 0 only env 0 follows its single-env twin exactly.
        generator = None
        if self.actor.probe > 0:
            generator = th.Generator().manual_seed(int(self.np_random.integers(2**62)))
        return self.actor(obs_norm, self.policy, direction, generator) - obs_norm


class PAADAttack(Attack):
    """PA-AD with a trained director: ``actor(obs, direction=clip(director(obs), -1, 1))``.

    Args:
        eps: the budget the director was trained for. norm: ``"linf"`` or ``"l2"``.
        director: its SB3 policy (see :func:`train_paad` / :func:`load_paad`).
        deterministic: use the director's mean (default); False samples it with the
            generator, as during training.
        steps, step_size, probe, magnitude: the actor (:class:`DirectionActor`); use the
            ones it was trained with (:meth:`TrainedDirector.attack` does).

    Example:
        >>> director = train_paad("ppo-cartpole", eps=0.5, steps=64, n_envs=1, n_steps=64,
        ...     batch_size=64)
        >>> from advrl.testing import LinearPolicy
        >>> attack = PAADAttack(0.5, director=director.policy)
        >>> adv = attack(th.zeros(3, 4), LinearPolicy(th.ones(2, 4), discrete=True))
        >>> bool(adv.abs().max() <= 0.5)
        True
    """

    name = "paad"

    def __init__(
        self,
        eps: float,
        norm: Norm = "linf",
        *,
        director: ActorCriticPolicy,
        deterministic: bool = True,
        steps: int = 1,
        step_size: float | None = None,
        probe: float = 0.1,
        magnitude: float = 1.0,
    ) -> None:
        super().__init__(eps, norm)
        if isinstance(director, BaseAlgorithm):
            director = director.policy
        if not isinstance(director, ActorCriticPolicy):
            raise TypeError(
                f"director must be an SB3 actor-critic policy (load one with load_paad), "
                f"got {type(director).__name__}"
            )
        self.director = director
        self.deterministic = check_bool(deterministic, "deterministic")
        self.actor = DirectionActor(self.eps, self.norm, steps, step_size, probe, magnitude)

    def __repr__(self) -> str:
        return f"PAADAttack(eps={self.eps}, norm={self.norm!r}, steps={self.actor.steps})"

    def lengths(self) -> dict[str, float]:
        return {"eps": self.eps, "step_size": self.actor.step}

    def perturb(self, obs: th.Tensor, policy: TorchPolicy, generator: th.Generator | None):
        seen = math.prod(self.director.observation_space.shape)
        if seen != math.prod(obs.shape[1:]):
            raise ValueError(
                f"the director sees observations of {seen} values, got shape "
                f"{tuple(obs.shape[1:])}: it was trained for another victim"
            )
        device = self.director.device
        with th.no_grad():
            action = adversary_mean(self.director, obs.reshape(obs.shape[0], -1).to(device))
            if not self.deterministic:
                gen_device = generator.device if generator is not None else th.device("cpu")
                noise = th.randn(action.shape, generator=generator, device=gen_device)
                action = action + self.director.log_std.exp() * noise.to(device)
        direction = action.clamp(-1.0, 1.0).to(obs.device)
        return self.actor(obs, policy, direction, generator)


# Env / card env_kwargs name -> DirectionActor argument.
ACTOR_KWARGS = {"actor_steps": "steps", "step_size": "step_size", "probe": "probe",
                "magnitude": "magnitude"}  # fmt: skip


class TrainedDirector(TrainedAdversary):
    """A PA-AD director's policy and card; ``attack()`` uses the actor it was trained with."""

    def attack(self, deterministic: bool = True) -> PAADAttack:
        kwargs = self.card.env_kwargs
        actor = {arg: kwargs[key] for key, arg in ACTOR_KWARGS.items() if key in kwargs}
        try:
            return PAADAttack(self.card.eps, self.card.norm, director=self.policy,
                              deterministic=deterministic, **actor)  # fmt: skip
        except (TypeError, ValueError) as err:
            raise CheckpointError(
                f"the director's actor settings {actor} are invalid: {err}"
            ) from err


def train_paad(
    victim: str,
    eps: float,
    steps: int,
    *,
    norm: Norm = "linf",
    seed: int = 0,
    n_envs: int = 8,
    device: str = "cpu",
    victim_deterministic: bool = False,
    actor_steps: int = 1,
    step_size: float | None = None,
    probe: float = 0.1,
    magnitude: float = 1.0,
    anneal_lr: bool = True,
    **ppo_kwargs: Any,
) -> TrainedDirector:
    """Train a PA-AD director with PPO against a frozen victim (zoo name or zoo-format file).

    ``ppo_kwargs`` override :data:`PPO_DIRECTOR`; ``anneal_lr`` decays the learning rate
    linearly to 0 over ``steps`` (the reference's ``anneal_lr``). Rewards are normalised (the
    reference's ``norm_rewards: returns``).
    """
    anneal_lr = check_bool(anneal_lr, "anneal_lr")
    digest = victim_digest(victim)
    env_kwargs = dict(victim=victim, eps=float(eps), norm=norm, victim_digest=digest,
                      victim_deterministic=victim_deterministic, actor_steps=actor_steps,
                      step_size=step_size, probe=probe, magnitude=magnitude)  # fmt: skip
    hparams = {**PPO_DIRECTOR, **ppo_kwargs}
    lr = hparams["learning_rate"]
    schedule = LinearSchedule(lr, 0.0, 1.0) if anneal_lr and not callable(lr) else lr
    model, card = train_ppo_adversary(
        "paad", DirectionAdversaryEnv, env_kwargs, steps, seed=seed, n_envs=n_envs,
        device=device, hparams={**hparams, "learning_rate": schedule},
        recorded={"learning_rate": lr, "anneal_lr": anneal_lr},
    )  # fmt: skip
    return TrainedDirector(model.policy, card, model)


def load_paad(
    path: str | Path,
    *,
    victim: str | None = None,
    eps: float | None = None,
    norm: Norm | None = None,
    device: str = "cpu",
) -> TrainedDirector:
    """Load a saved director (weights only; safe for untrusted files).

    ``victim`` / ``eps`` / ``norm``: what it will attack; a file trained for another victim
    or budget is refused with both named.
    """
    policy, card = load_sb3_adversary(path, kind="paad", victim=victim, eps=eps, norm=norm,
                                      device=device)  # fmt: skip
    return TrainedDirector(policy, card)


def load_attack(
    path: str | Path,
    *,
    attack: str = "paad",
    victim: str | None = None,
    eps: float | None = None,
    norm: Norm | None = None,
    device: str = "cpu",
) -> PAADAttack:
    """The registry's loader (:mod:`advrl.attacks.learned.registry`)."""
    if attack != "paad":
        raise ValueError(f"a PA-AD director runs the 'paad' attack, not {attack!r}")
    return load_paad(path, victim=victim, eps=eps, norm=norm, device=device).attack()
