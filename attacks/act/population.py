"""A population of PPO victims trained in lockstep: stacked weights, batched matmuls.

ACT's fitness is the outcome of training a fresh victim (Lu et al., ICML 2023, section 4), so
one ES generation trains ``P`` victims. Here member ``p``'s networks are slices ``[p]`` of
stacked weight tensors and every forward pass is one ``baddbmm`` over the population; the
summed loss gives each member exactly its own gradient (the parameters are disjoint) and
Adam, being elementwise, updates each member as if it were alone. Gradient-norm clipping is
done per member. Hyper-parameters follow SB3's PPO (clip 0.2, GAE 0.95, orthogonal init,
Adam eps 1e-5, separate 64-64 tanh actor and critic, value bootstrap on truncation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole

MessageFn = Callable[[th.Tensor], th.Tensor]
"""``obs (P, B, obs_dim) -> message (P, B, dims)``: the adversary of each member."""


def mlp_num_params(sizes: Sequence[int]) -> int:
    """Parameter count of an MLP with layer ``sizes`` (weights and biases)."""
    return sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:], strict=True))


class StackedMLP:
    """``P`` independent tanh MLPs with stacked weights ``(P, out, in)`` and biases ``(P, out)``.

    The flat layout per member is ``LearnedMessage``'s (``parameters_to_vector``: each layer's
    weight row-major, then its bias), so an ES vector found here drives
    :class:`advrl.envs.cheap_talk.LearnedMessage` identically.

    Example:
        >>> net = StackedMLP.from_flat(th.zeros(3, mlp_num_params([4, 8, 2])), [4, 8, 2])
        >>> net(th.ones(3, 5, 4)).shape
        torch.Size([3, 5, 2])
    """

    def __init__(self, weights: list[th.Tensor], biases: list[th.Tensor]) -> None:
        self.weights, self.biases = weights, biases

    @classmethod
    def from_flat(cls, flat: th.Tensor, sizes: Sequence[int]) -> StackedMLP:
        """From ``flat`` of shape ``(P, mlp_num_params(sizes))``."""
        if flat.ndim != 2 or flat.shape[1] != mlp_num_params(sizes):
            raise ValueError(
                f"expected flat parameters of shape (P, {mlp_num_params(sizes)}), "
                f"got {tuple(flat.shape)}"
            )
        weights, biases, offset = [], [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            weights.append(flat[:, offset : offset + n_in * n_out].reshape(-1, n_out, n_in))
            offset += n_in * n_out
            biases.append(flat[:, offset : offset + n_out])
            offset += n_out
        return cls(weights, biases)

    @classmethod
    def orthogonal(
        cls, n: int, sizes: Sequence[int], out_gain: float, generator: th.Generator, device="cpu"
    ) -> StackedMLP:
        """SB3's init for each member: orthogonal weights (gain sqrt(2), ``out_gain`` on the
        last layer), zero biases."""
        weights, biases = [], []
        for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            gain = out_gain if k == len(sizes) - 2 else math.sqrt(2)
            w = th.empty(n, n_out, n_in)
            for p in range(n):  # QR of a seeded normal matrix, as th.nn.init.orthogonal_
                a = th.randn(max(n_out, n_in), min(n_out, n_in), generator=generator)
                q, r = th.linalg.qr(a)
                q = q * th.sign(th.diagonal(r))
                w[p] = gain * (q if n_out >= n_in else q.T)[:n_out, :n_in]
            weights.append(w.to(device))
            biases.append(th.zeros(n, n_out, device=device))
        return cls(weights, biases)

    def parameters(self) -> list[th.Tensor]:
        return [*self.weights, *self.biases]

    def __call__(self, x: th.Tensor) -> th.Tensor:
        """``x`` shape ``(P, B, in)`` -> ``(P, B, out)``."""
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = th.baddbmm(b[:, None, :], x, w.transpose(1, 2))
            if k < len(self.weights) - 1:
                x = th.tanh(x)
        return x


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


class PopulationPPO:
    """``n_members`` independent discrete-action PPO victims trained together.

    Args:
        n_members: population size P.
        obs_dim: victim observation size (env observation + message).
        n_actions: number of discrete actions.
        config: PPO settings.
        seed: seed of the initial weights and of the action sampling.
        device: torch device.

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
        self.config = config or PPOConfig()
        self.device = th.device(device)
        gen = th.Generator().manual_seed(seed)
        hidden = list(self.config.hidden)
        # shared_init: every member starts from the same weights (common random numbers for
        # ES: fitness differences then come from the adversaries, not from the inits).
        n_init = 1 if shared_init else n_members
        self.pi = StackedMLP.orthogonal(n_init, [obs_dim, *hidden, n_actions], 0.01, gen)
        self.vf = StackedMLP.orthogonal(n_init, [obs_dim, *hidden, 1], 1.0, gen)
        for net in (self.pi, self.vf):
            net.weights = [w.detach().expand(n_members, -1, -1).to(self.device).clone()
                           .requires_grad_() for w in net.weights]  # fmt: skip
            net.biases = [b.detach().expand(n_members, -1).to(self.device).clone()
                          .requires_grad_() for b in net.biases]  # fmt: skip
        self.params = self.pi.parameters() + self.vf.parameters()
        self.optimizer = th.optim.Adam(self.params, lr=self.config.learning_rate, eps=1e-5)
        self.generator = th.Generator(device=self.device).manual_seed(seed + 1)

    def act(self, obs: th.Tensor, deterministic: bool = False) -> th.Tensor:
        """Actions ``(P, B)`` for observations ``(P, B, obs_dim)``."""
        with th.no_grad():
            logits = self.pi(obs)
            if deterministic:
                return logits.argmax(-1)
            return self._sample(logits)

    def _sample(self, logits: th.Tensor) -> th.Tensor:
        probs = th.softmax(logits, -1).reshape(-1, logits.shape[-1])
        return th.multinomial(probs, 1, generator=self.generator).reshape(logits.shape[:-1])

    def _clip_grads(self) -> None:
        """Per-member global-norm clipping (SB3 clips each model's gradient at 0.5)."""
        sq = sum(p.grad.pow(2).flatten(1).sum(1) for p in self.params)
        coef = (self.config.max_grad_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for p in self.params:
            p.grad.mul_(coef.view(-1, *([1] * (p.grad.ndim - 1))))

    def learn(self, env: BatchedCartPole, n_updates: int, message_fn: MessageFn) -> th.Tensor:
        """Train for ``n_updates`` rollouts of ``n_steps`` on ``env`` (``P * n_envs`` envs,
        member-major), the message of ``message_fn`` appended to each observation.

        Returns:
            ``(P, n_updates)``: mean return of the episodes each member finished in each
            rollout (the last value carried forward when none finished).
        """
        cfg, P = self.config, self.P
        E, T = cfg.n_envs, cfg.n_steps
        if env.num_envs != P * E:
            raise ValueError(f"env has {env.num_envs} envs, expected P * n_envs = {P * E}")

        def observe(state: th.Tensor) -> th.Tensor:
            s = state.reshape(P, E, -1).to(self.device)
            return th.cat([s, message_fn(s)], -1)

        obs = observe(env.reset())
        episode_return = th.zeros(P, E, device=self.device)
        curves = th.zeros(P, n_updates)
        last = th.zeros(P)
        for update in range(n_updates):
            buf_obs = th.zeros(T, P, E, self.obs_dim, device=self.device)
            buf_act = th.zeros(T, P, E, dtype=th.long, device=self.device)
            buf_logp, buf_val, buf_rew, buf_done = (
                th.zeros(T, P, E, device=self.device) for _ in range(4)
            )
            finished_sum, finished_n = th.zeros(P), th.zeros(P)
            for t in range(T):
                with th.no_grad():
                    logits, value = self.pi(obs), self.vf(obs)[..., 0]
                action = self._sample(logits)
                logp = th.log_softmax(logits, -1).gather(-1, action[..., None])[..., 0]
                step = env.step(action.reshape(-1))
                reward = step.reward.reshape(P, E).to(self.device)
                truncated = step.truncated.reshape(P, E).to(self.device)
                done = truncated | step.terminated.reshape(P, E).to(self.device)
                episode_return += reward
                if bool(done.any()):
                    finished_sum += (episode_return * done).sum(1).cpu()
                    finished_n += done.sum(1).cpu()
                    episode_return = episode_return * ~done
                if bool(truncated.any()):  # bootstrap the cut-off tail (as SB3 does)
                    with th.no_grad():
                        final_value = self.vf(observe(step.final_obs))[..., 0]
                    reward = reward + cfg.gamma * final_value * truncated
                buf_obs[t], buf_act[t], buf_logp[t], buf_val[t] = obs, action, logp, value
                buf_rew[t], buf_done[t] = reward, done.float()
                obs = observe(step.obs)
            with th.no_grad():
                next_value = self.vf(obs)[..., 0]
            advantages = self._gae(buf_rew, buf_val, buf_done, next_value)
            self._update(buf_obs, buf_act, buf_logp, advantages, advantages + buf_val)
            means = th.where(finished_n > 0, finished_sum / finished_n.clamp(min=1), last)
            curves[:, update], last = means, means
        return curves

    def _gae(self, rew, val, done, next_value) -> th.Tensor:
        cfg = self.config
        adv = th.zeros_like(rew)
        running = th.zeros_like(next_value)
        for t in reversed(range(rew.shape[0])):
            nxt = next_value if t == rew.shape[0] - 1 else val[t + 1]
            nonterminal = 1.0 - done[t]
            delta = rew[t] + cfg.gamma * nxt * nonterminal - val[t]
            running = delta + cfg.gamma * cfg.gae_lambda * nonterminal * running
            adv[t] = running
        return adv

    def _update(self, obs, act, old_logp, adv, returns) -> None:
        cfg, P = self.config, self.P

        def per_member(x: th.Tensor) -> th.Tensor:  # (T, P, E, ...) -> (P, T*E, ...)
            return x.transpose(0, 1).reshape(P, -1, *x.shape[3:])

        obs, act, old_logp, adv, returns = map(per_member, (obs, act, old_logp, adv, returns))
        n = obs.shape[1]
        batch = min(cfg.batch_size, n)
        for _ in range(cfg.n_epochs):
            perm = th.argsort(th.rand(P, n, generator=self.generator, device=self.device), 1)
            for start in range(0, n - batch + 1, batch):
                idx = perm[:, start : start + batch]
                o = obs.gather(1, idx[..., None].expand(-1, -1, obs.shape[-1]))
                a, lp0, ad, ret = (x.gather(1, idx) for x in (act, old_logp, adv, returns))
                ad = (ad - ad.mean(1, keepdim=True)) / (ad.std(1, keepdim=True) + 1e-8)
                log_probs = th.log_softmax(self.pi(o), -1)
                logp = log_probs.gather(-1, a[..., None])[..., 0]
                ratio = th.exp(logp - lp0)
                clipped = th.clamp(ratio, 1 - cfg.clip_range, 1 + cfg.clip_range)
                policy_loss = -th.min(ratio * ad, clipped * ad).mean(1)
                value_loss = (ret - self.vf(o)[..., 0]).pow(2).mean(1)
                entropy = -(log_probs.exp() * log_probs).sum(-1).mean(1)
                loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
                self.optimizer.zero_grad()
                loss.sum().backward()  # members share no parameters: each gets its own grad
                self._clip_grads()
                self.optimizer.step()

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
