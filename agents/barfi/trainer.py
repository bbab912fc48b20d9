"""BARFI: the bi-level loop (Gupta et al., NeurIPS 2023, Alg. 1).

Inner: REINFORCE (Adam) on the alignment reward ``r_phi`` with the learned discount
``gamma_phi``. Outer: every ``inner_steps`` batches, ``phi`` and ``w`` ascend the primary
return ``J_p`` along the implicit gradient ``-grad_phi g^T [grad^2_theta J_phi]^-1
grad_theta J_p`` (a ``neumann_terms``-term Neumann series, :mod:`implicit`) minus the L2
penalty. The outer step reuses the last inner batch, so BARFI uses exactly the environment
steps of plain REINFORCE; ``learn_reward=False`` *is* that baseline (fixed ``r_p + r_aux``,
``gamma = sigmoid(4.6)``), with the same learner and budget.

The Hessian and mixed derivatives are those of the REINFORCE surrogate
``sum_t log pi(a_t|s_t) (G_t^phi - b_t)`` on the sampled batch (the paper's estimator form),
not of the exact expected return, whose Hessian would add score-function products.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from safetensors.torch import load, save

from advrl.agents.barfi.alignment import AlignmentReward
from advrl.agents.barfi.implicit import check_neumann_args, implicit_gradient
from advrl.agents.barfi.rollout import Batch, PolicyNet, collect, reinforce_surrogate
from advrl.progress import progress
from advrl.zoo.checkpoint import atomic_write_bytes


@dataclass
class BARFIConfig:
    """Hyper-parameters (all plain data, stored in checkpoints)."""

    hidden: tuple[int, ...] = (16,)
    """policy hidden layers"""
    inner_lr: float = 0.01
    """Adam step size of the inner REINFORCE learner"""
    outer_lr: float = 0.05
    """Adam step size of phi and w"""
    inner_steps: int = 2
    """REINFORCE updates (batches) per outer update"""
    neumann_terms: int = 5
    """Neumann-series terms K of the inverse Hessian (the paper uses 5)"""
    neumann_alpha: float | None = None
    """Neumann step size alpha (eigenvalues of -alpha H must lie in (0, 2)); None: 0.5 over a
    power-iteration estimate of the Hessian's spectral radius, at every outer step"""
    obs_scale: tuple[float, ...] = (1.0,)
    """phi's state features are tanh(obs / obs_scale)"""
    reward_init: tuple[float, float, float] = (0.0, 1.0, 1.0)
    """initial (phi1, phi2, phi3): r_p + r_aux; (0, 1, 0) with learn_reward=False is plain
    REINFORCE on the primary reward"""
    w0: float = 4.6
    """initial discount logit, gamma = sigmoid(w0)"""
    l2_phi: float = 0.0
    """L2 penalty on phi (towards its initial value)"""
    l2_gamma: float = 0.0
    """L2 penalty on gamma_phi (towards its initial value)"""
    primary_gamma: float = 1.0
    """discount of the primary return J_p in the outer gradient"""
    horizon: int = 500
    """most steps per episode"""
    learn_reward: bool = True
    """False: the naive baseline (REINFORCE on r_p + r_aux, fixed gamma)"""
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """free-form notes stored with checkpoints (e.g. the task)"""

    def validate(self) -> None:
        alpha = self.neumann_alpha
        check_neumann_args(self.neumann_terms, 1.0 if alpha is None else alpha)
        for name in ("inner_lr", "outer_lr"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("inner_steps", "horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 0 < self.primary_gamma <= 1:
            raise ValueError(f"primary_gamma must be in (0, 1], got {self.primary_gamma!r}")


class BARFI:
    """Behaviour alignment via reward function optimisation on a vector env.

    Args:
        env: a Gymnasium vector env whose info holds ``reward_true`` (primary) and
            ``reward_aux`` arrays (:class:`~advrl.agents.barfi.cartpole.CartPoleAuxBatch`, or a
            ``SyncVectorEnv`` over :mod:`~advrl.agents.barfi.tasks` wrappers).
        config: hyper-parameters; keyword overrides are applied on top.
        device: torch device of the policy and the alignment reward.

    Example:
        >>> from advrl.agents.barfi.cartpole import CartPoleAuxBatch
        >>> agent = BARFI(CartPoleAuxBatch(4, "bad", max_episode_steps=20), horizon=20)
        >>> history = agent.learn(batches=2)
        >>> len(history), history[-1]["batch"], 0 < history[-1]["primary_return"] <= 20
        (2, 2.0, True)
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        config: BARFIConfig | None = None,
        device: th.device | str = "cpu",
        **overrides: Any,
    ) -> None:
        config = BARFIConfig(**{**asdict(config or BARFIConfig()), **overrides})
        config.hidden, config.obs_scale = tuple(config.hidden), tuple(config.obs_scale)
        config.reward_init = tuple(config.reward_init)
        config.validate()
        self.env, self.config, self.device = env, config, th.device(device)
        space = env.single_observation_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"observations must be a Box, got {space}")
        obs_dim = int(np.prod(space.shape))
        scale = config.obs_scale[0] if len(config.obs_scale) == 1 else config.obs_scale
        # Seeded initialisation without touching the caller's global RNG; sampling uses self.rng.
        with th.random.fork_rng(devices=[]):
            th.manual_seed(config.seed)
            self.policy = PolicyNet(obs_dim, env.single_action_space, config.hidden, device=device)
        self.reward = AlignmentReward(
            obs_dim, scale, config.reward_init, config.w0, config.l2_phi, config.l2_gamma,
            device=device,
        )  # fmt: skip
        self.inner_opt = th.optim.Adam(self.policy.parameters(), lr=config.inner_lr)
        self.outer_opt = th.optim.Adam(self.reward.parameters(), lr=config.outer_lr)
        self.rng = th.Generator(device=self.device).manual_seed(config.seed)
        self.batches_done = 0

    def _inner_objective(self, batch: Batch) -> th.Tensor:
        r_phi = self.reward(batch.obs, batch.r_p, batch.r_aux)
        return reinforce_surrogate(self.policy, batch, r_phi, self.reward.gamma)

    def outer_gradient(self, batch: Batch) -> list[th.Tensor]:
        """``dJ_p/d(weight, bias, w)`` minus the penalty's gradient, at the current policy."""
        theta = list(self.policy.parameters())
        phi = list(self.reward.parameters())
        primary = reinforce_surrogate(self.policy, batch, batch.r_p, self.config.primary_gamma)
        v = th.autograd.grad(primary, theta)
        grads = implicit_gradient(
            self._inner_objective(batch), v, theta, phi,
            terms=self.config.neumann_terms, alpha=self.config.neumann_alpha,
        )  # fmt: skip
        pen = th.autograd.grad(self.reward.penalty(), phi, allow_unused=True)
        return [g if p is None else g - p for g, p in zip(grads, pen, strict=True)]

    def learn(
        self,
        batches: int,
        callback: Callable[[dict[str, float]], None] | None = None,
        progress_bar: bool = False,
    ) -> list[dict[str, float]]:
        """Train for ``batches`` inner updates (each one episode per env).

        Returns one record per batch: its primary and auxiliary returns (means over envs),
        ``gamma`` and the mean ``phi`` over the batch's states. ``progress_bar`` shows a bar
        over the batches.
        """
        if isinstance(batches, bool) or not isinstance(batches, int) or batches < 0:
            raise ValueError(f"batches must be an int >= 0, got {batches!r}")
        history = []
        with progress(progress_bar, batches, "BARFI", "batch") as bar:
            for _ in range(batches):
                record = self._batch()
                history.append(record)
                bar.update(1)
                if callback is not None:
                    callback(record)
        return history

    def _batch(self) -> dict[str, float]:
        """One inner update (and, every ``inner_steps`` batches, an outer one); its record."""
        seed = int(th.randint(0, 2**31 - 1, (1,), generator=self.rng, device=self.device))
        batch = collect(self.env, self.policy, self.config.horizon, self.rng, seed)
        self.batches_done += 1
        outer = self.config.learn_reward and self.batches_done % self.config.inner_steps == 0
        # The outer gradient is taken at the policy that collected the batch, before the
        # inner step moves it (both from the same samples).
        outer_grads = self.outer_gradient(batch) if outer else None
        self.inner_opt.zero_grad()
        (-self._inner_objective(batch)).backward()  # gradient ascent on J_phi
        self.inner_opt.step()
        if outer_grads is not None:
            self.outer_opt.zero_grad()
            for p, g in zip(self.reward.parameters(), outer_grads, strict=True):
                p.grad = -g  # ascent on J_p
            self.outer_opt.step()
        with th.no_grad():
            phi = self.reward.phi(batch.obs)[batch.mask > 0].mean(0)
        return {
            "batch": float(self.batches_done),
            "env_steps": float(batch.mask.sum()),
            "primary_return": float(batch.primary_returns().mean()),
            "aux_return": float(batch.aux_returns().mean()),
            "gamma": float(self.reward.gamma.detach()),
            "phi1": float(phi[0]), "phi2": float(phi[1]), "phi3": float(phi[2]),
        }  # fmt: skip

    def evaluate(self, episodes: int, seed: int = 12345) -> float:
        """Mean primary return of the stochastic policy over ``episodes`` episodes."""
        rng = th.Generator(device=self.device).manual_seed(seed)
        total, count, i = 0.0, 0, 0
        while count < episodes:
            batch = collect(self.env, self.policy, self.config.horizon, rng, seed + i)
            returns = batch.primary_returns()[: episodes - count]
            total, count, i = total + float(returns.sum()), count + len(returns), i + 1
        return total / episodes

    def save(self, path: str | Path) -> None:
        """Weights-only checkpoint (safetensors: policy, reward, config JSON), atomic."""
        tensors = {f"policy.{k}": v for k, v in self.policy.state_dict().items()}
        tensors |= {f"reward.{k}": v for k, v in self.reward.state_dict().items()}
        meta = {"barfi_config": json.dumps(asdict(self.config)),
                "batches_done": str(self.batches_done)}  # fmt: skip
        data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, meta)
        atomic_write_bytes(Path(path), data)

    @classmethod
    def load(
        cls, path: str | Path, env: gym.vector.VectorEnv, device: th.device | str = "cpu"
    ) -> BARFI:
        """Rebuild a trainer from :meth:`save`'s file (no unpickling) on ``env``."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no BARFI checkpoint at {str(path)!r}")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "barfi_config" not in meta:
            raise ValueError(f"{str(path)!r} is not a BARFI checkpoint (no barfi_config header)")
        tensors = load(path.read_bytes())
        agent = cls(env, BARFIConfig(**json.loads(meta["barfi_config"])), device=device)
        for prefix, module in (("policy.", agent.policy), ("reward.", agent.reward)):
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            module.load_state_dict(state, strict=True)
        agent.batches_done = int(meta.get("batches_done", 0))
        return agent
