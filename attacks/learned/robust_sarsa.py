"""Robust Sarsa (RS) and RS+MAD: attacks through a learned Q^pi of the frozen victim.

SA-PPO (Zhang et al. 2020, appendix "Robust Sarsa attack"; `huanzhang12/ATLA_robust_RL`,
``agent.py`` ``setup_sarsa`` / ``sarsa_steps`` / ``apply_attack``, ``test.py --sarsa-enable``).
:func:`train_robust_sarsa` learns ``Q^pi(s, a)`` of the victim by on-policy TD (SARSA) on
its own trajectories, with a robustness regulariser that keeps Q flat over a small ball of
inputs, so the attack's gradients are informative; :class:`RobustSarsaAttack` then finds,
by PGD, the observation in the eps-ball whose action the critic rates worst:
``min_{s~} Q(s, pi(s~))`` with ``s`` the clean observation. :class:`RobustSarsaMAD` adds
the MAD term: ``min (1 - r) Q(s, pi(s~)) - r mean_i ((pi(s~) - pi(s)) / sigma_i)^2``.

Conventions matched (reference defaults):
    critic: ``concat(normalised obs, unclipped action)`` -> 64x64 tanh MLP, orthogonal init
    (gain sqrt 2, last layer 1, zero biases). Data: each iteration collects 2048 steps of the
    victim *sampling* its actions (the reference trains without ``--deterministic``); actions
    are stored before clipping; rewards normalised by the running std of discounted returns,
    clipped to +-10 (``norm_rewards: returns``). Optimisation: 10 epochs of minibatches of
    64 (2048 / 32) per iteration, Adam (lr = the env's ``val_lr``: Hopper 2.5e-4, Walker2d
    3e-4, HalfCheetah 1e-4, Ant 1e-5; eps 1e-5), Huber loss (``SmoothL1Loss``) to the TD
    target ``r + gamma (1 - done) Q(s', a')`` (gamma 0.99, no target network), lr constant
    for 2/3 of the iterations then linearly to 0. Regulariser: ``sarsa_reg * mean(d^2)``,
    ``d = max(ub - Q, Q - lb)`` with ``[lb, ub]`` interval (IBP) bounds of Q over the
    ``sarsa_eps`` box around the whole input (observation *and* action), ``sarsa_eps`` 0 for
    the first third of the iterations, then ramped linearly (per minibatch) to its value over
    the second third; defaults ``sarsa_eps=0.02``, ``sarsa_reg=0.1`` (the reference scans
    eps in {0.02 .. 0.3} x reg in {0.1 .. 10} and keeps the strongest). Attack: 10 steps of
    size eps / 10 from a uniform start in the one-step ball, signed gradient descent,
    projected onto the eps-ball; the victim's *mean* action enters Q; RS+MAD's
    ``action_ratio`` defaults to the configs' 0.5, its std normalised by its mean.

Where advrl differs (each documented where it happens):
    - TD pairs: the reference computes ``Q(s', a')`` as the *next row of a shuffled
      minibatch* (``q[1:]`` after ``np.random.shuffle``), i.e. of a random other transition,
      which is not SARSA. advrl stores each transition's own successor ``(s', a')``, the
      action the victim took next (sampled at the final observation when a time limit cuts
      the episode, which is bootstrapped, not treated as terminal). ``td_pairs=
      "minibatch_order"`` reproduces the reference's code.
    - Bounds: the reference mixes IBP with CROWN bounds (weight ramped from 0 to 1 with
      ``sarsa_eps``); advrl uses IBP bounds throughout (looser, so a stronger regulariser
      during the ramp; the same from the end of the ramp on). No auto_LiRPA dependency.
    - ``norm="l2"`` (the reference is l_inf only) bounds the regulariser's first layer over
      the l_2 ball and steps along ``g / |g|``.
    - Rewards are normalised by statistics gathered during RS training (SB3
      ``VecNormalize``), not the victim's frozen training statistics, which the zoo does not
      keep. Only the critic's scale depends on it, not the attack's argmin.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from advrl.attacks.base import check_bool, check_budget, check_positive_int, check_real
from advrl.attacks.learned.artifacts import AdversaryCard, check_budget_matches
from advrl.attacks.learned.qnet_format import QNetwork, load_qnet, read_header, save_qnet
from advrl.attacks.learned.sarsa_attack import RobustSarsaAttack, RobustSarsaMAD
from advrl.attacks.learned.sarsa_losses import Transitions, sarsa_losses
from advrl.attacks.learned.victims import check_same_victim, load_victim, victim_digest
from advrl.types import Norm, TorchPolicy
from advrl.zoo.checkpoint import atomic_write_bytes, read_card
from advrl.zoo.schema import ACTIVATIONS

ATTACKS = ("rs", "rs_mad")
REFERENCE_LR = {"Hopper": 2.5e-4, "Walker2d": 3e-4, "HalfCheetah": 1e-4, "Ant": 1e-5}
"""The reference configs' ``val_lr`` per env (its Sarsa optimiser uses the value lr)."""


@dataclass(frozen=True)
class SarsaConfig:
    """Robust Sarsa settings (the reference's defaults; see the module docs).

    Example:
        >>> SarsaConfig(sarsa_eps=0.1).sarsa_reg, SarsaConfig().td_pairs
        (0.1, 'transition')
    """

    sarsa_eps: float = 0.02
    sarsa_reg: float = 0.1
    rollout_steps: int = 2048
    """Env steps per iteration, over all envs (the reference's ``T`` with one actor)."""
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float | None = None
    """None: the env's :data:`REFERENCE_LR`, else 2.5e-4."""
    adam_eps: float = 1e-5
    gamma: float = 0.99
    anneal_lr: bool = True
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    norm_reward: bool = True
    td_pairs: Literal["transition", "minibatch_order"] = "transition"
    victim_deterministic: bool = False

    def __post_init__(self) -> None:
        for name in ("sarsa_eps", "sarsa_reg"):
            check_real(getattr(self, name), name, "a finite number >= 0", lambda v: v >= 0)
        for name in ("rollout_steps", "epochs", "batch_size"):
            check_positive_int(getattr(self, name), name)
        if self.learning_rate is not None:
            check_real(self.learning_rate, "learning_rate", "a number > 0", lambda v: v > 0)
        check_real(self.adam_eps, "adam_eps", "a number > 0", lambda v: v > 0)
        check_real(self.gamma, "gamma", "a number in [0, 1]", lambda v: 0 <= v <= 1)
        for name in ("anneal_lr", "norm_reward", "victim_deterministic"):
            check_bool(getattr(self, name), name)
        if self.td_pairs not in ("transition", "minibatch_order"):
            raise ValueError(
                f"td_pairs must be 'transition' or 'minibatch_order', got {self.td_pairs!r}"
            )
        QNetwork(1, 1, self.hidden, self.activation)  # validates widths and activation

    @classmethod
    def of(cls, kwargs: dict[str, Any]) -> SarsaConfig:
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(f"unknown Robust Sarsa settings {unknown}; allowed: {allowed}")
        if "hidden" in kwargs:
            kwargs = dict(kwargs, hidden=tuple(kwargs["hidden"]))
        return cls(**kwargs)


def reg_eps_at(config: SarsaConfig, iteration: int, n_iters: int, batch: int, n_batches: int):
    """The regulariser's eps: 0 for a third of the iterations, ramped over the next third
    (auto_LiRPA ``LinearScheduler(start=N/3, length=N/3)``, stepped per minibatch)."""
    start = length = n_iters // 3
    if length == 0:
        return config.sarsa_eps
    return config.sarsa_eps * float(np.clip((iteration + 1 - start + batch / n_batches) / length,
                                            0.0, 1.0))  # fmt: skip


def lr_factor(iteration: int, n_iters: int) -> float:
    """The reference's Sarsa lr schedule: 1 for 2/3 of the iterations, then linearly to 0."""
    decrease_at = n_iters * 2 / 3
    return 1.0 if iteration < decrease_at else (n_iters - iteration) / (n_iters - decrease_at)


# --- data collection ------------------------------------------------------------------------


class _Rollout:
    """The frozen victim acting in ``venv``; yields :class:`Transitions` in attack space."""

    def __init__(self, venv: VecEnv, policy: TorchPolicy, deterministic: bool, seed: int):
        self.venv, self.policy, self.deterministic = venv, policy, deterministic
        self.generator = th.Generator().manual_seed(seed)
        space = venv.action_space
        self.low, self.high = space.low, space.high
        venv.seed(seed)
        self.obs = self._normalise(venv.reset())
        self.action = self._act(self.obs)
        self.episode_returns: list[float] = []

    def _normalise(self, raw: np.ndarray) -> th.Tensor:
        raw_t = th.as_tensor(np.asarray(raw), dtype=th.float32, device=self.policy.device)
        with th.no_grad():
            return self.policy.normalize(raw_t)

    def _act(self, obs: th.Tensor) -> th.Tensor:
        """The victim's action *before clipping* (stored as the reference stores it)."""
        with th.no_grad():
            action = self.policy.action(obs)
            if not self.deterministic:
                std = self.policy.action_std(obs)
                if std is not None:
                    noise = th.randn(action.shape, generator=self.generator)
                    action = action + std * noise.to(action.device)
        return action

    def collect(self, n_steps: int) -> Transitions:
        steps = []
        for _ in range(n_steps):
            clipped = np.clip(self.action.cpu().numpy(), self.low, self.high)
            raw, reward, done, infos = self.venv.step(clipped)
            obs = self._normalise(raw)  # auto-reset: the next episode's first obs where done
            action = self._act(obs)
            next_obs, next_action = obs.clone(), action.clone()
            ended = np.flatnonzero(done)
            truncated = np.zeros(len(done), dtype=bool)
            for i in ended:
                next_obs[i] = self._normalise(infos[i]["terminal_observation"][None])[0]
                truncated[i] = infos[i].get("TimeLimit.truncated", False)
                if "episode" in infos[i]:
                    self.episode_returns.append(float(infos[i]["episode"]["r"]))
            if len(ended):  # a' at the final observation: bootstrapped when truncated
                next_action[ended] = self._act(next_obs[ended])
            dev = obs.device
            steps.append((self.obs, self.action, th.as_tensor(reward, dtype=th.float32, device=dev),
                          next_obs, next_action, th.as_tensor(done & ~truncated, device=dev),
                          th.as_tensor(done, device=dev)))  # fmt: skip
            self.obs, self.action = obs, action
        return Transitions(*(th.cat(parts) for parts in zip(*steps, strict=True)))


def orthogonal_init(q_net: QNetwork, generator: th.Generator) -> QNetwork:
    """The reference's ``initialization: orthogonal``: gain sqrt 2, last layer 1, zero bias."""
    linears = [m for m in q_net.q if isinstance(m, th.nn.Linear)]
    for i, layer in enumerate(linears):
        gain = 1.0 if i == len(linears) - 1 else 2**0.5
        th.nn.init.orthogonal_(layer.weight, gain=gain, generator=generator)
        th.nn.init.zeros_(layer.bias)
    return q_net


# --- training -------------------------------------------------------------------------------


class TrainedCritic:
    """A Robust Sarsa critic and its card; ``history`` has one record per iteration.

    Example:
        >>> critic = train_robust_sarsa("ppo-hopper", 0.075, 64, n_envs=1)
        >>> critic.card.kind, critic.attack("rs_mad").action_ratio
        ('rs', 0.5)
    """

    def __init__(
        self, q_net: QNetwork, card: AdversaryCard, history: list[dict] | None = None
    ) -> None:
        self.q_net, self.card, self.history = q_net, card, history or []

    def attack(self, name: str = "rs", **kwargs: Any) -> RobustSarsaAttack:
        """The ``"rs"`` or ``"rs_mad"`` attack at the budget the critic was trained for."""
        if name not in ATTACKS:
            raise ValueError(f"a Robust Sarsa critic runs {list(ATTACKS)}, not {name!r}")
        cls = RobustSarsaMAD if name == "rs_mad" else RobustSarsaAttack
        return cls(self.card.eps, self.card.norm, q_net=self.q_net, **kwargs)

    def save(self, path: str | Path, command: str = "") -> Path:
        """Write the critic (safetensors, :mod:`~advrl.attacks.learned.qnet_format`) and its
        JSON card beside it."""
        path = Path(path)
        card = self.card
        save_qnet(path, self.q_net, dict(kind="rs", victim=card.victim, eps=card.eps,
                  victim_digest=card.victim_digest, norm=card.norm))  # fmt: skip
        card.command = command or card.command
        record = card.to_json()
        record["history"] = self.history
        record["versions"] = {"torch": th.__version__, "numpy": np.__version__}
        text = json.dumps(record, indent=2) + "\n"
        atomic_write_bytes(path.with_suffix(".json"), text.encode())
        return path


def train_robust_sarsa(
    victim: str,
    eps: float,
    steps: int,
    *,
    norm: Norm = "linf",
    seed: int = 0,
    n_envs: int = 8,
    device: str = "cpu",
    **kwargs: Any,
) -> TrainedCritic:
    """Learn the victim's Q^pi with the robustness regulariser (see the module docs).

    Args:
        victim: zoo name or zoo-format ``.safetensors`` file (continuous actions).
        eps: the attack budget the critic is for (in the victim's normalised observation
            space); the regulariser's own radius is ``sarsa_eps``.
        steps: env steps, rounded up to whole iterations of ``rollout_steps`` (a smaller
            ``steps`` makes one shorter iteration).
        n_envs: parallel envs; each iteration collects ``rollout_steps / n_envs`` from each.
        **kwargs: :class:`SarsaConfig` fields.

    Raises:
        TypeError / ValueError: a bad setting, a discrete victim (before any env is made).
    """
    eps, norm = check_budget(eps, norm)
    check_real(eps, "eps", "a finite number > 0", lambda e: e > 0)
    steps, n_envs = check_positive_int(steps, "steps"), check_positive_int(n_envs, "n_envs")
    config = SarsaConfig.of(kwargs)
    digest = victim_digest(victim)
    zoo = load_victim(victim, device=device)
    policy = zoo.torch_policy()
    if policy.is_discrete:
        raise ValueError(f"Robust Sarsa needs a continuous-action victim; {victim!r} acts in "
                         f"{policy.action_space}")  # fmt: skip
    lr = config.learning_rate or REFERENCE_LR.get(zoo.env_id.split("-")[0], 2.5e-4)
    per_env = max(1, min(config.rollout_steps, steps) // n_envs)
    n_iters = -(-steps // (per_env * n_envs))
    venv: VecEnv = DummyVecEnv(zoo.env_fns(n_envs))
    if config.norm_reward:  # the reference's "norm_rewards: returns", clip_rewards 10
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, clip_reward=10.0,
                            gamma=config.gamma)  # fmt: skip
    generator = th.Generator().manual_seed(seed)
    obs_dim = int(np.prod(venv.observation_space.shape))
    act_dim = int(np.prod(venv.action_space.shape))
    q_net = orthogonal_init(QNetwork(obs_dim, act_dim, config.hidden, config.activation),
                            generator).to(device)  # fmt: skip
    optimiser = th.optim.Adam(q_net.parameters(), lr=lr, eps=config.adam_eps)
    rollout = _Rollout(venv, policy, config.victim_deterministic, seed)
    history: list[dict] = []
    start = time.perf_counter()
    for it in range(n_iters):
        data = rollout.collect(per_env)
        n_batches = -(-len(data) // config.batch_size)
        for epoch in range(config.epochs):
            order = th.randperm(len(data), generator=generator).to(data.obs.device)
            for b, idx in enumerate(order.split(config.batch_size)):
                reg_eps = reg_eps_at(config, it, n_iters, epoch * n_batches + b + 1,
                                     config.epochs * n_batches)  # fmt: skip
                td_loss, reg, q = sarsa_losses(q_net, data[idx], gamma=config.gamma,
                                               reg_eps=reg_eps, norm=norm,
                                               td_pairs=config.td_pairs)  # fmt: skip
                optimiser.zero_grad()
                (td_loss + config.sarsa_reg * reg).backward()
                optimiser.step()
        returns = rollout.episode_returns[-10:]  # the victim's clean return, for the card
        history.append(dict(iteration=it + 1, td_loss=round(td_loss.item(), 6),
                            reg_loss=round(config.sarsa_reg * reg.item(), 6),
                            q_mean=round(q.mean().item(), 4), reg_eps=round(reg_eps, 6),
                            lr=optimiser.param_groups[0]["lr"],
                            victim_return=round(float(np.mean(returns)), 2) if returns else None,
                            ))  # fmt: skip
        if config.anneal_lr:  # LambdaLR stepped after each iteration, as the reference
            for group in optimiser.param_groups:
                group["lr"] = lr * lr_factor(it + 1, n_iters)
    venv.close()
    card = AdversaryCard(
        kind="rs", victim=victim, victim_digest=digest, eps=eps, norm=norm, env_id=zoo.env_id,
        env_kwargs=dict(zoo.env_kwargs), steps=steps, seed=seed,
        train_seconds=round(time.perf_counter() - start, 1),
        hyperparameters={**asdict(config), "hidden": list(config.hidden), "learning_rate": lr,
                         "n_envs": n_envs, "iterations": n_iters},
        policy_kwargs={"net_arch": list(config.hidden),
                       "activation_fn": ACTIVATIONS[config.activation]},
    )  # fmt: skip
    return TrainedCritic(q_net.eval(), card, history)


# --- loading --------------------------------------------------------------------------------


def load_critic(
    path: str | Path,
    *,
    victim: str | None = None,
    eps: float | None = None,
    norm: Norm | None = None,
    device: str = "cpu",
) -> TrainedCritic:
    """Load a Robust Sarsa critic; a file trained for another victim or budget is refused
    (both named) from its header alone, before the weights are read.

    Raises:
        CheckpointError: a corrupt, oversized or disallowed file (see
            :mod:`~advrl.attacks.learned.qnet_format`).
        ValueError: trained for another victim (by digest), eps or norm.
    """
    path = Path(path)
    header = read_header(path)
    check_budget_matches(header, eps, norm, f"critic {str(path)!r}")
    if victim is not None:
        check_same_victim(victim, header["victim"], header["victim_digest"])
    q_net, header = load_qnet(path, device=device)
    record = read_card(path.with_suffix(".json"))  # how it was trained: informative only

    def field(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = record.get(key, default)
        return value if isinstance(value, kind) and not isinstance(value, bool) else default

    card = AdversaryCard(
        kind="rs", victim=header["victim"], victim_digest=header["victim_digest"],
        eps=header["eps"], norm=header["norm"], env_id=field("env_id", str, ""),
        env_kwargs=field("env_kwargs", dict, {}), steps=field("steps", int, 0),
        seed=field("seed", int, 0), train_seconds=field("train_seconds", (int, float), None),
        hyperparameters=field("hyperparameters", dict, {}),
        policy_kwargs={"net_arch": list(q_net.hidden),
                       "activation_fn": ACTIVATIONS[q_net.activation]},
        command=field("command", str, ""),
    )  # fmt: skip
    return TrainedCritic(q_net, card, field("history", list, []))


def load_attack(
    path: str | Path,
    *,
    attack: str = "rs",
    victim: str | None = None,
    eps: float | None = None,
    norm: Norm | None = None,
    device: str = "cpu",
) -> RobustSarsaAttack:
    """The registry's loader (:mod:`advrl.attacks.learned.registry`): ``"rs"`` or
    ``"rs_mad"`` on the critic at ``path``."""
    if attack not in ATTACKS:
        raise ValueError(f"a Robust Sarsa critic runs {list(ATTACKS)}, not {attack!r}")
    return load_critic(path, victim=victim, eps=eps, norm=norm, device=device).attack(attack)
