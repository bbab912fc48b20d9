"""A population of PPO victims trained in lockstep: stacked weights, batched matmuls.

ACT's fitness is the outcome of training a fresh victim (Lu et al., ICML 2023, section 4), so
one ES generation trains ``P`` victims. Member ``p``'s parameters are row ``p`` of one flat
``(P, n)`` tensor (actor then critic, :class:`StackedMLP` layout), every forward pass is one
``baddbmm`` over the population, gradient-norm clipping is per member and Adam, being
elementwise, updates each member as if it were alone. Hyper-parameters follow SB3's PPO (clip
0.2, GAE 0.95, orthogonal init, Adam eps 1e-5, separate 64-64 tanh actor and critic, value
bootstrap on truncation).

Two implementations of the same algorithm (``PPOConfig.impl``): ``"fused"`` (default) takes
the gradient in closed form (:mod:`advrl.attacks.act.stacked`), trains blocks of
``PPOConfig.chunk`` members through all epochs at a time (the block stays in cache) and
evaluates the critic on a whole rollout at once; ``"autograd"`` is the original step-by-step
autograd path, kept as the reference. They differ by float rounding only (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole
from advrl.attacks.act.stacked import (
    Batch,
    StackedMLP,
    clip_grad_norm_rows,
    mlp_num_params,
    output_grads,
    ppo_loss,
    sample_actions,
)

__all__ = ["IMPLS", "MessageFn", "PPOConfig", "PopulationPPO", "StackedMLP", "mlp_num_params"]

MessageFn = Callable[[th.Tensor], th.Tensor]
"""``obs (P, B, obs_dim) -> message (P, B, dims)``: the adversary of each member."""

IMPLS = ("fused", "autograd")
CPU_CHUNK = 32
"""Default members per block of the fused update on CPU (measured best at 32-64 for 64-64 nets)."""


@dataclass
class PPOConfig:
    """Per-member PPO settings (SB3 names)."""

    n_envs: int = 4
    """envs per member"""
    n_steps: int = 128
    """rollout length per env and update"""
    n_epochs: int = 4
    batch_size: int = 128
    """minibatch size per member"""
    learning_rate: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (64, 64)
    impl: str = "fused"
    """"fused" (closed-form gradients, member blocks; fast) or "autograd" (the reference)"""
    chunk: int | None = None
    """members per block of the fused update, a cache-size knob that leaves results unchanged
    (default: 32 on CPU, where a block must fit the cache; the whole population elsewhere)"""

    def __post_init__(self) -> None:
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {self.impl!r}")
        c = self.chunk
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
            raise ValueError(f"chunk must be None or an integer >= 1, got {c!r}")


def finished_episodes(
    rewards: th.Tensor, done: th.Tensor, carry: th.Tensor
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """Per member, the summed returns and the number of the episodes that end in a rollout,
    and each env's running return to carry into the next one.

    ``rewards`` and ``done`` (0/1): ``(P, T, E)``; ``carry``: ``(P, E)``, the returns running
    when the rollout began. Vectorised over time (a running sum, minus its value at each
    env's previous episode end), which for integer rewards such as CartPole's is exactly the
    step-by-step sum.
    """
    T = rewards.shape[1]
    running = carry[:, None] + rewards.cumsum(1)
    steps = th.arange(T, device=rewards.device)[None, :, None]
    last_end = th.where(done > 0, steps, -1).cummax(1).values  # last episode end <= t

    def running_at(t: th.Tensor) -> th.Tensor:  # running return at step t; 0 where t = -1
        return th.where(t >= 0, running.gather(1, t.clamp(min=0)), 0.0)

    previous = th.cat([last_end.new_full(last_end[:, :1].shape, -1), last_end[:, :-1]], 1)
    returns = running - running_at(previous)
    return (
        (returns * done).sum((1, 2)),
        done.sum((1, 2)),
        (running[:, -1:] - running_at(last_end[:, -1:]))[:, 0],
    )


class PopulationPPO:
    """``n_members`` independent discrete-action PPO victims trained together.

    Args:
        n_members: population size P.
        obs_dim: victim observation size (env observation + message).
        n_actions: number of discrete actions.
        config: PPO settings.
        seed: seed of the initial weights and of the action sampling.
        device: torch device.
        shared_init: every member starts from the same weights.

    Attributes:
        theta: ``(P, n)`` parameters, member ``p`` in row ``p`` (actor, then critic).
        pi, vf: the actors and critics, views into ``theta``.

    Example:
        >>> ppo = PopulationPPO(2, obs_dim=6, n_actions=2, config=PPOConfig(n_steps=8,
        ...                     batch_size=16, hidden=(8,)))
        >>> env = BatchedCartPole(2 * ppo.config.n_envs, seed=0)
        >>> curves = ppo.learn(env, n_updates=2, message_fn=lambda obs: 0 * obs[..., :2])
        >>> curves.shape
        torch.Size([2, 2])
    """

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        n_actions: int,
        config: PPOConfig | None = None,
        seed: int = 0,
        device: str | th.device = "cpu",
        shared_init: bool = False,
    ) -> None:
        if isinstance(n_members, bool) or not isinstance(n_members, int) or n_members < 1:
            raise ValueError(f"n_members must be an integer >= 1, got {n_members!r}")
        self.P, self.obs_dim, self.n_actions = n_members, obs_dim, n_actions
        self.config = cfg = config or PPOConfig()
        self.device = th.device(device)
        gen = th.Generator().manual_seed(seed)
        self.sizes = {
            "pi": [obs_dim, *cfg.hidden, n_actions],
            "vf": [obs_dim, *cfg.hidden, 1],
        }
        # shared_init: every member starts from the same weights (common random numbers for
        # ES: fitness differences then come from the adversaries, not from the inits).
        n_init = 1 if shared_init else n_members
        pi = StackedMLP.orthogonal(n_init, self.sizes["pi"], 0.01, gen)
        vf = StackedMLP.orthogonal(n_init, self.sizes["vf"], 1.0, gen)
        flat = th.cat([pi.flat(), vf.flat()], 1).expand(n_members, -1)
        self.theta = flat.to(self.device).clone()
        self.pi, self.vf = self._nets(self.theta.detach())  # views without autograd history
        if cfg.impl == "autograd":  # one Adam step on the stacked tensor is per-member Adam
            self.optimizer = th.optim.Adam([self.theta.requires_grad_()], cfg.learning_rate,
                                           eps=1e-5)  # fmt: skip
        else:  # one Adam per block of rows, whose gradient the fused update writes
            chunk = cfg.chunk or (CPU_CHUNK if self.device.type == "cpu" else n_members)
            self.blocks = [slice(lo, min(lo + chunk, n_members))
                           for lo in range(0, n_members, chunk)]  # fmt: skip
            grad = th.zeros(min(chunk, n_members), self.theta.shape[1], device=self.device)
            self.optimizers = []
            for rows in self.blocks:
                block = self.theta[rows]
                block.grad = grad[: rows.stop - rows.start]
                # fused: one kernel per step (same arithmetic as the default single-tensor path)
                self.optimizers.append(th.optim.Adam([block], cfg.learning_rate, eps=1e-5,
                                                     fused=True))  # fmt: skip
        self.generator = th.Generator(device=self.device).manual_seed(seed + 1)

    def _nets(self, flat: th.Tensor) -> tuple[StackedMLP, StackedMLP]:
        """Actor and critic as views into ``flat`` (``theta``, a block of it, or a gradient)."""
        n_pi = mlp_num_params(self.sizes["pi"])
        return (
            StackedMLP.from_flat(flat[:, :n_pi], self.sizes["pi"]),
            StackedMLP.from_flat(flat[:, n_pi:], self.sizes["vf"]),
        )

    @property
    def params(self) -> list[th.Tensor]:
        """Per-layer views ``(P, ...)``: the actor's weights, its biases, the critic's."""
        return self.pi.parameters() + self.vf.parameters()

    def act(self, obs: th.Tensor, deterministic: bool = False) -> th.Tensor:
        """Actions ``(P, B)`` for observations ``(P, B, obs_dim)``."""
        with th.no_grad():
            logits = self.pi(obs)
            if deterministic:
                return logits.argmax(-1)
            return self._sample(logits)

    def _sample(self, logits: th.Tensor, dim: int = -1) -> th.Tensor:
        """Actions for ``logits`` (actions along ``dim``), as ``torch.multinomial`` draws."""
        return sample_actions(th.softmax(logits, dim), self.generator, dim)

    def learn(self, env: BatchedCartPole, n_updates: int, message_fn: MessageFn) -> th.Tensor:
        """Train for ``n_updates`` rollouts of ``n_steps`` on ``env`` (``P * n_envs`` envs,
        member-major), the message of ``message_fn`` appended to each observation.

        Returns:
            ``(P, n_updates)``: mean return of the episodes each member finished in each
            rollout (the last value carried forward when none finished).
        """
        cfg, P, dev = self.config, self.P, self.device
        E, T = cfg.n_envs, cfg.n_steps
        if env.num_envs != P * E:
            raise ValueError(f"env has {env.num_envs} envs, expected P * n_envs = {P * E}")
        # fused: the critic is evaluated on the whole rollout at once, after it
        deferred = cfg.impl == "fused"

        def observe(state: th.Tensor) -> th.Tensor:
            s = state.reshape(P, E, -1).to(dev)
            return th.cat([s, message_fn(s)], -1)

        obs = observe(env.reset())
        episode_return = th.zeros(P, E, device=dev)
        curves = th.zeros(P, n_updates)
        last = th.zeros(P)
        for update in range(n_updates):
            buf_obs = th.zeros(P, T, E, self.obs_dim, device=dev)
            # fused: logits actions-first, (P, A, E) per step (fast softmax over few actions)
            buf_logits = th.zeros(
                P, T, *((self.n_actions, E) if deferred else (E, self.n_actions)), device=dev
            )
            buf_act = th.zeros(P, T, E, dtype=th.long, device=dev)
            buf_val, buf_rew, buf_done = (th.zeros(P, T, E, device=dev) for _ in range(3))
            finals = []  # truncation bootstraps, added after the rollout: (t, obs, truncated)
            for t in range(T):
                with th.no_grad():
                    logits = self.pi.forward(obs, features_first=deferred)[0]
                    if not deferred:
                        buf_val[:, t] = self.vf(obs)[..., 0]
                action = self._sample(logits, 1 if deferred else -1)
                step = env.step(action.reshape(-1))
                truncated = step.truncated.reshape(P, E).to(dev)
                if bool(truncated.any()):  # bootstrap the cut-off tail (as SB3 does)
                    finals.append((t, observe(step.final_obs), truncated))
                buf_obs[:, t], buf_logits[:, t], buf_act[:, t] = obs, logits, action
                buf_rew[:, t] = step.reward.reshape(P, E)
                buf_done[:, t] = truncated | step.terminated.reshape(P, E).to(dev)
                obs = observe(step.obs)
            finished_sum, finished_n, episode_return = finished_episodes(
                buf_rew, buf_done, episode_return
            )
            with th.no_grad():
                for t, final, truncated in finals:
                    buf_rew[:, t] += cfg.gamma * self.vf(final)[..., 0] * truncated
                if deferred:
                    buf_val = self.vf(buf_obs.reshape(P, T * E, -1)).reshape(P, T, E)
                next_value = self.vf(obs)[..., 0]
            dim = 2 if deferred else 3
            logp = th.log_softmax(buf_logits, dim).gather(dim, buf_act.unsqueeze(dim)).squeeze(dim)
            advantages = self._gae(buf_rew, buf_val, buf_done, next_value)
            data = Batch(buf_obs, buf_act, logp, advantages, advantages + buf_val)
            self._update(Batch(*(x.flatten(1, 2) for x in data)))  # (P, T * E, ...)
            finished_sum, finished_n = finished_sum.cpu(), finished_n.cpu()
            means = th.where(finished_n > 0, finished_sum / finished_n.clamp(min=1), last)
            curves[:, update], last = means, means
        return curves

    def _gae(self, rew, val, done, next_value) -> th.Tensor:
        """Generalised advantage estimates; ``rew``, ``val``, ``done``: ``(P, T, E)``."""
        cfg = self.config
        adv = th.zeros_like(rew)
        running = th.zeros_like(next_value)
        for t in reversed(range(rew.shape[1])):
            nxt = next_value if t == rew.shape[1] - 1 else val[:, t + 1]
            nonterminal = 1.0 - done[:, t]
            delta = rew[:, t] + cfg.gamma * nxt * nonterminal - val[:, t]
            running = delta + cfg.gamma * cfg.gae_lambda * nonterminal * running
            adv[:, t] = running
        return adv

    def _update(self, data: Batch) -> None:
        """``n_epochs`` of minibatch PPO on ``data`` (per member: ``(P, n, ...)``)."""
        if self.config.impl == "autograd":
            self._update_autograd(data)
        else:
            self._update_fused(data)

    def _minibatches(self, n: int) -> tuple[th.Tensor, range]:
        """Per epoch and member, a random permutation of the ``n`` samples (``(n_epochs, P,
        n)``, drawn as the reference draws them), and the minibatch starts."""
        cfg = self.config
        rand = th.rand(cfg.n_epochs, self.P, n, generator=self.generator, device=self.device)
        size = min(cfg.batch_size, n)
        return th.argsort(rand, -1), range(0, n - size + 1, size)

    def _minibatch(self, data: Batch, idx: th.Tensor) -> Batch:
        obs = data.obs.gather(1, idx[..., None].expand(-1, -1, data.obs.shape[-1]))
        return Batch(obs, *(x.gather(1, idx) for x in data[1:]))

    def _loss_args(self) -> dict[str, float]:
        cfg = self.config
        return {"clip_range": cfg.clip_range, "ent_coef": cfg.ent_coef, "vf_coef": cfg.vf_coef}

    def _update_autograd(self, data: Batch) -> None:
        """The reference: autograd through the summed loss (members share no parameters, so
        each gets its own gradient), then one Adam step on the stacked parameters."""
        cfg = self.config
        perms, starts = self._minibatches(data.obs.shape[1])
        size = min(cfg.batch_size, data.obs.shape[1])
        for perm in perms:
            for start in starts:
                mb = self._minibatch(data, perm[:, start : start + size])
                pi, vf = self._nets(self.theta)
                loss = ppo_loss(pi(mb.obs), vf(mb.obs)[..., 0], mb, **self._loss_args())
                self.optimizer.zero_grad()
                loss.sum().backward()
                # per-member global norm, summed layer by layer as the original code did
                layers = [p for net in self._nets(self.theta.grad) for p in net.parameters()]
                sq = sum(g.pow(2).flatten(1).sum(1) for g in layers)
                coef = (cfg.max_grad_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
                self.theta.grad.mul_(coef[:, None])
                self.optimizer.step()

    def _update_fused(self, data: Batch) -> None:
        """Closed-form gradients, block by block of ``chunk`` members: each block runs all
        epochs while its parameters, Adam state and activations stay in cache."""
        cfg = self.config
        perms, starts = self._minibatches(data.obs.shape[1])
        size = min(cfg.batch_size, data.obs.shape[1])
        for rows, optimizer in zip(self.blocks, self.optimizers, strict=True):
            theta = optimizer.param_groups[0]["params"][0]
            (pi, vf), (g_pi, g_vf) = self._nets(theta), self._nets(theta.grad)
            block = Batch(*(x[rows] for x in data))
            for perm in perms[:, rows]:
                for start in starts:
                    mb = self._minibatch(block, perm[:, start : start + size])
                    logits, pi_inputs = pi.forward(mb.obs, features_first=True)
                    values, vf_inputs = vf.forward(mb.obs, features_first=True)
                    g_logits, g_values = output_grads(logits, values[:, 0], mb, **self._loss_args())
                    pi.backward(pi_inputs, g_logits, g_pi, features_first=True)
                    vf.backward(vf_inputs, g_values[:, None], g_vf, features_first=True)
                    clip_grad_norm_rows(theta.grad, cfg.max_grad_norm)
                    optimizer.step()

    def evaluate(
        self, message_fn: MessageFn, n_envs: int = 8, seed: int = 0, max_steps: int = 500
    ) -> th.Tensor:
        """Greedy return of one episode in each of ``n_envs`` envs per member, mean: ``(P,)``."""
        P = self.P
        env = BatchedCartPole(P * n_envs, max_episode_steps=max_steps, seed=seed, device="cpu")
        state = env.reset()
        total = th.zeros(P * n_envs)
        alive = th.ones(P * n_envs, dtype=th.bool)
        for _ in range(max_steps):
            s = state.reshape(P, n_envs, -1).to(self.device)
            action = self.act(th.cat([s, message_fn(s)], -1), deterministic=True)
            step = env.step(action.reshape(-1).cpu())
            total += step.reward * alive
            alive &= ~(step.terminated | step.truncated)
            if not bool(alive.any()):
                break
            state = step.obs
        return total.reshape(P, n_envs).mean(1)
