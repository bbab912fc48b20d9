"""RAT: a learned observation adversary that makes the victim act as an intention policy.

Bai et al. 2025 ("RAT: Adversarial Attacks on Deep Reinforcement Agents for Targeted
Behaviors", `ChangWinde/RAT`). The attacker wants a *behaviour*, given by an intention policy
(learned from preferences over that behaviour; see :mod:`advrl.bench.targeted`), not a
reward to minimise. The adversary perturbs the victim's observations inside the eps-ball and
is rewarded by how close the victim's action on the perturbed state comes to the intention's
action on the clean state, times RAT's state weight ``w(s)``
(:mod:`~advrl.attacks.learned.rat_weighting`):

    r_t = w(s_t) * -|| mu_victim(s_t + delta_t) - mu_intention(s_t) ||^2

It reuses the optimal attack's game (:class:`ObservationAdversaryEnv`: same observation,
action, budget space and batched victim call), so the trained adversary is an
:class:`~advrl.attacks.learned.optimal.OptimalAttack` at evaluation. The reference updates its
SAC adversary by the gradient of the weighted KL; here SB3 PPO maximises the same closeness as
a reward (as the optimal attack does), and after each rollout the weighting net takes the
bi-level step on the rollout's states. The reference's outer loss is the intention critic's
value of the victim's action; an on-policy intention has no critic, so the outer loss is the
unweighted closeness on states of the intention's own rollouts (``intention_states``), i.e.
the weights favour the states whose inner step most moves the victim towards the intention
where the intended behaviour goes (the same batch when none are given).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from advrl.attacks.balls import project
from advrl.attacks.gradient import PGD
from advrl.attacks.learned.adversary_env import (
    ObservationAdversaryEnv,
    VecObservationAdversary,
    play_step,
)
from advrl.attacks.learned.artifacts import AdversaryCard, load_sb3_adversary, save_sb3_adversary
from advrl.attacks.learned.optimal import PPO_ADVERSARY, OptimalAttack, adversary_mean
from advrl.attacks.learned.rat_weighting import Weighting, alignment, closeness, weighting_step
from advrl.attacks.learned.victims import load_victim, victim_digest
from advrl.types import Norm, TorchPolicy

GAME_ID = "advrl/ObservationAdversary-v0"
"""RAT plays the optimal attack's game; only the reward differs."""


def check_intention(intention: Any, victim: TorchPolicy) -> TorchPolicy:
    """Refuse an intention that is not a continuous TorchPolicy acting in the victim's spaces."""
    if not all(hasattr(intention, k) for k in ("action", "normalize", "observation_space")):
        raise TypeError(
            f"intention must be a TorchPolicy (advrl.policies.from_sb3(model)), got "
            f"{type(intention).__name__}"
        )
    if intention.is_discrete or victim.is_discrete:
        raise ValueError("RAT's closeness needs continuous victim and intention actions")
    pairs = (("observation", intention.observation_space, victim.observation_space),
             ("action", intention.action_space, victim.action_space))  # fmt: skip
    for what, mine, theirs in pairs:
        if mine.shape != theirs.shape:
            raise ValueError(
                f"intention and victim {what} spaces differ: {mine.shape} vs {theirs.shape}"
            )
    return intention


def intention_actions(intention: TorchPolicy, victim: TorchPolicy, obs: th.Tensor) -> th.Tensor:
    """The intention's mean actions at the clean states ``obs`` (victim-normalised, shape
    (batch, obs_dim)), clipped to the action bounds; each policy sees its own normalisation."""
    raw = victim.unnormalize(obs)
    action = intention.action(intention.normalize(raw.to(intention.device)))
    space = intention.action_space
    low = th.as_tensor(space.low, dtype=action.dtype, device=action.device)
    high = th.as_tensor(space.high, dtype=action.dtype, device=action.device)
    return action.clamp(low, high).to(obs.device)


def victim_means(victim: TorchPolicy, obs: th.Tensor) -> th.Tensor:
    """The victim's mean actions clipped to its bounds (differentiable inside them)."""
    action = victim.action(obs)
    space = victim.action_space
    low = th.as_tensor(space.low, dtype=action.dtype, device=action.device)
    high = th.as_tensor(space.high, dtype=action.dtype, device=action.device)
    return action.clamp(low, high)


class TargetedAdversaryEnv(ObservationAdversaryEnv):
    """The optimal attack's game, rewarded for making the victim act as ``intention``.

    Args:
        victim, eps, norm, victim_digest, victim_deterministic: as
            :class:`ObservationAdversaryEnv`.
        intention: the intention policy: a :class:`~advrl.types.TorchPolicy` with its own
            normaliser (it sees the clean state), or a zoo name or zoo-format file. The
            default, ``intention-halfcheetah-backward``, runs HalfCheetah backwards
            (learned from preferences; ``python -m advrl.zoo.train_intention``).
        weighting: RAT's state weights (shared by all envs of a training run); None: 1.

    Info adds ``closeness`` (minus the squared action distance), ``weight`` and
    ``reward_victim`` (the task reward, untouched).

    Example:
        >>> import advrl.zoo
        >>> victim = advrl.zoo.load("ppo-halfcheetah")
        >>> env = TargetedAdversaryEnv(victim, intention=victim.torch_policy(), eps=0.1)
        >>> _ = env.reset(seed=0)
        >>> _, reward, *_, info = env.step(env.action_space.sample())
        >>> reward == info["weight"] * info["closeness"], info["weight"]
        (True, 1.0)
    """

    def __init__(
        self,
        victim: Any = "ppo-halfcheetah",
        intention: Any = "intention-halfcheetah-backward",
        eps: float = 0.15,
        norm: Norm = "linf",
        victim_digest: str | None = None,
        victim_deterministic: bool = False,
        weighting: Weighting | None = None,
    ) -> None:
        super().__init__(victim, eps, norm, victim_digest, victim_deterministic)
        if isinstance(intention, str):  # a zoo name or zoo-format file, as victims are
            intention = load_victim(intention).torch_policy()
        self.intention = check_intention(intention, self.policy)
        if weighting is not None and not isinstance(weighting, Weighting):
            raise TypeError(f"weighting must be a Weighting or None, got {weighting!r}")
        self.weighting = weighting

    def targeted_rewards(self, clean: th.Tensor, seen: th.Tensor) -> tuple[np.ndarray, ...]:
        """Rewards, closeness and weights of a batch (clean and perturbed states)."""
        with th.no_grad():
            near = closeness(victim_means(self.policy, seen),
                             intention_actions(self.intention, self.policy, clean))  # fmt: skip
            weight = th.ones_like(near) if self.weighting is None else self.weighting(clean)
        near, weight = near.double().cpu().numpy(), weight.double().cpu().numpy()
        return weight * near, near, weight

    def perturbed_by(self, clean: th.Tensor, delta: th.Tensor) -> th.Tensor:
        """:meth:`perturbed` for a differentiable perturbation tensor (the bi-level step)."""
        clip = getattr(getattr(self.policy, "normalizer", None), "clip", None)
        out = clean + delta
        return out if clip is None else out.clamp(-clip, clip)

    @classmethod
    def play_batch(cls, envs: list[ObservationAdversaryEnv], actions: np.ndarray) -> list[tuple]:
        return targeted_play_step(envs, actions)  # type: ignore[arg-type]

    def step(self, action: np.ndarray):
        if self._obs_norm is None:
            raise RuntimeError("call reset() before step()")
        return self.play_batch([self], np.asarray(action)[None])[0]


def targeted_play_step(envs: list[TargetedAdversaryEnv], actions: np.ndarray) -> list[tuple]:
    """:func:`play_step` with RAT's reward: one batched victim, intention and weight call."""
    first = envs[0]
    clean = th.cat([env._obs_norm for env in envs])
    rewards, near, weight = first.targeted_rewards(clean, first.perturbed(actions, clean))
    out = []
    for i, (obs, _, terminated, truncated, info) in enumerate(play_step(envs, actions)):
        info.update(closeness=float(near[i]), weight=float(weight[i]))
        out.append((obs, float(rewards[i]), terminated, truncated, info))
    return out


class IntentionPGD(PGD):
    """Targeted PGD for continuous victims: pull the victim's mean action towards the
    intention's action at the clean state (the per-step baseline RAT is compared with).

    Example:
        >>> from advrl.testing import LinearPolicy
        >>> victim = LinearPolicy(th.eye(2))
        >>> target = LinearPolicy(-th.eye(2))
        >>> attack = IntentionPGD(0.5, intention=target, steps=20)
        >>> obs = th.tensor([[0.2, -0.2]])
        >>> adv = attack(obs, victim, th.Generator().manual_seed(0))
        >>> [round(v, 1) for v in victim.action(adv)[0].tolist()]  # the intention's action
        [-0.2, 0.2]
    """

    name = "intention_pgd"

    def __init__(self, eps: float, norm: Norm = "linf", steps: int = 10,
                 step_size: float | None = None, random_start: bool = True, *,
                 intention: TorchPolicy) -> None:  # fmt: skip
        super().__init__(eps, norm, steps, step_size, random_start)
        self.intention = intention

    def objective(self, policy: TorchPolicy, obs: th.Tensor):
        check_intention(self.intention, policy)
        with th.no_grad():
            target = intention_actions(self.intention, policy, obs)

        def loss(victim: TorchPolicy, x: th.Tensor, ref: Any) -> th.Tensor:
            return closeness(victim_means(victim, x), target)

        return loss


class WeightingCallback(BaseCallback):
    """After each rollout: RAT's bi-level step of the weighting net on the rollout's states."""

    def __init__(self, env: TargetedAdversaryEnv, intention_states: np.ndarray | None,
                 batch_size: int, seed: int) -> None:  # fmt: skip
        super().__init__()
        self.env, self.batch_size = env, batch_size
        self.intention_states = intention_states
        self.rng = np.random.default_rng(seed)
        self.losses: list[float] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        states = self.model.rollout_buffer.observations.reshape(-1, self.env.observation_space
                                                                .shape[0])  # fmt: skip
        batch = th.as_tensor(states[self.rng.integers(0, len(states), self.batch_size)])
        outer = batch
        if self.intention_states is not None:
            idx = self.rng.integers(0, len(self.intention_states), self.batch_size)
            outer = th.as_tensor(self.intention_states[idx], dtype=th.float32)
        policy: ActorCriticPolicy = self.model.policy
        params = [p for n, p in policy.named_parameters() if not n.startswith(("value_net",
                  "mlp_extractor.value_net", "log_std"))]  # fmt: skip
        inner = -self._closeness(policy, batch)
        outer_loss = -self._closeness(policy, outer).mean()
        lr = float(self.model.lr_schedule(self.model._current_progress_remaining))
        h = alignment(inner, outer_loss, params, lr)
        self.losses.append(weighting_step(self.env.weighting, batch, h))
        policy.zero_grad(set_to_none=True)

    def _closeness(self, policy: ActorCriticPolicy, obs: th.Tensor) -> th.Tensor:
        env = self.env
        delta = env.eps * adversary_mean(policy, obs).clamp(-1.0, 1.0)
        if env.norm != "linf":
            delta = project(delta, env.eps, env.norm)
        with th.no_grad():
            target = intention_actions(env.intention, env.policy, obs)
        return closeness(victim_means(env.policy, env.perturbed_by(obs, delta)), target)


class TrainedRAT:
    """A RAT adversary: its policy, weighting net and card."""

    def __init__(self, policy: ActorCriticPolicy, card: AdversaryCard,
                 weighting: Weighting | None = None, model: PPO | None = None) -> None:  # fmt: skip
        self.policy, self.card, self.weighting, self.model = policy, card, weighting, model

    def attack(self, deterministic: bool = True) -> OptimalAttack:
        return OptimalAttack(self.card.eps, self.card.norm, adversary=self.policy,
                             deterministic=deterministic)  # fmt: skip

    def save(self, path, command: str = ""):
        """Weights only (the adversary; the weighting is training state) and a card."""
        return save_sb3_adversary(path, self.policy, self.card, command=command)


def train_rat_adversary(
    victim: str,
    intention: TorchPolicy,
    eps: float,
    steps: int,
    *,
    norm: Norm = "linf",
    seed: int = 0,
    n_envs: int = 8,
    weighted: bool = True,
    intention_states: np.ndarray | None = None,
    weighting_hidden: tuple[int, ...] = (64, 64),
    weighting_lr: float = 1e-3,
    weighting_batch: int = 256,
    intention_name: str | None = None,
    device: str = "cpu",
    **ppo_kwargs: Any,
) -> TrainedRAT:
    """Train RAT's adversary with SB3 PPO against a zoo victim (name or zoo-format file).

    ``weighted=False`` trains with weight 1 everywhere (the ablation). ``ppo_kwargs``
    override :data:`~advrl.attacks.learned.optimal.PPO_ADVERSARY`.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    env_kwargs = dict(victim=victim, eps=float(eps), norm=norm,
                      victim_digest=victim_digest(victim))  # fmt: skip
    first = TargetedAdversaryEnv(intention=intention, **env_kwargs)
    weighting = None
    if weighted:
        with th.random.fork_rng(devices=[]):
            th.manual_seed(seed)
            weighting = Weighting(first.observation_space.shape[0], weighting_hidden,
                                  weighting_lr)  # fmt: skip
        first.weighting = weighting
    shared = dict(env_kwargs, intention=intention, weighting=weighting)
    envs = VecObservationAdversary(
        [lambda: first] + [lambda: TargetedAdversaryEnv(**shared)] * (n_envs - 1)
    )
    envs.seed(seed)
    venv = VecNormalize(VecMonitor(envs), norm_obs=False, norm_reward=True)
    hparams = {**PPO_ADVERSARY, **ppo_kwargs}
    model = PPO("MlpPolicy", venv, seed=seed, device=device, verbose=0, **hparams)
    callback = WeightingCallback(first, intention_states, weighting_batch, seed) if weighted \
        else None  # fmt: skip
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    returns = [ep["r"] for ep in model.ep_info_buffer]
    card = AdversaryCard(
        kind="rat", victim=victim, victim_digest=env_kwargs["victim_digest"], eps=float(eps),
        norm=norm, env_id=GAME_ID, env_kwargs={**env_kwargs, "intention": intention_name,
                                               "weighted": weighted},
        steps=steps, seed=seed, train_seconds=round(time.perf_counter() - start, 1),
        hyperparameters={k: v for k, v in hparams.items() if k != "policy_kwargs"} | {
            "n_envs": n_envs, "weighting_hidden": list(weighting_hidden),
            "weighting_lr": weighting_lr, "weighting_batch": weighting_batch},
        policy_kwargs=hparams["policy_kwargs"],
        final_adversary_return=float(np.mean(returns)) if returns else None,
    )  # fmt: skip
    return TrainedRAT(model.policy, card, weighting, model)


def load_rat_adversary(path, *, victim: str | None = None, eps: float | None = None,
                       norm: Norm | None = None, device: str = "cpu") -> TrainedRAT:  # fmt: skip
    """Load a saved RAT adversary (weights only); another victim or budget is refused."""
    policy, card = load_sb3_adversary(path, kind="optimal", victim=victim, eps=eps, norm=norm,
                                      device=device)  # fmt: skip
    card.kind = "rat"
    return TrainedRAT(policy, card)
