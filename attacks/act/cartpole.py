"""CartPole-v1 for N envs at once in torch: gymnasium's physics, step for step.

Same constants, Euler integration, termination (``|x| > 2.4`` or ``|theta| > 12`` degrees, reward 1
on the terminating step) and truncation at 500 steps as ``gym.make("CartPole-v1")``; the state
is float64 like gymnasium's, observations are float32. Ended envs reset in the same call (the
SB3 VecEnv convention) and their last observation is returned as ``final_obs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch as th

from advrl.envs.cartpole_physics import cartpole_step, cartpole_terminated


@dataclass
class Step:
    """One batched step: ``obs`` (after auto-reset), ``final_obs`` (before it), ``reward``,
    ``terminated``, ``truncated``; every field has leading shape ``(num_envs,)``."""

    obs: th.Tensor
    final_obs: th.Tensor
    reward: th.Tensor
    terminated: th.Tensor
    truncated: th.Tensor


class BatchedCartPole:
    """``num_envs`` CartPole-v1 copies stepped by one vectorised torch call.

    Args:
        num_envs: number of envs (> 0).
        max_episode_steps: truncation horizon (500 for CartPole-v1).
        seed: seed of the reset-state generator.
        device: torch device.

    Example:
        >>> env = BatchedCartPole(3, seed=0)
        >>> env.reset().shape
        torch.Size([3, 4])
        >>> env.step(th.tensor([0, 1, 1])).reward
        tensor([1., 1., 1.])
    """

    obs_dim, n_actions = 4, 2

    def __init__(
        self, num_envs: int, max_episode_steps: int = 500, seed: int = 0, device: str = "cpu"
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs <= 0:
            raise ValueError(f"num_envs must be an integer > 0, got {num_envs!r}")
        self.num_envs, self.max_episode_steps, self.device = num_envs, max_episode_steps, device
        self.generator = th.Generator(device=device).manual_seed(seed)
        self.state = th.zeros(num_envs, 4, dtype=th.float64, device=device)
        self.steps = th.zeros(num_envs, dtype=th.long, device=device)

    def _sample_states(self, n: int) -> th.Tensor:
        u = th.rand(n, 4, generator=self.generator, dtype=th.float64, device=self.device)
        return u * 0.1 - 0.05  # U(-0.05, 0.05), as gymnasium's reset

    def reset(self, seed: int | None = None) -> th.Tensor:
        if seed is not None:
            self.generator.manual_seed(seed)
        self.state = self._sample_states(self.num_envs)
        self.steps.zero_()
        return self.state.float()

    def set_state(self, state: th.Tensor) -> th.Tensor:
        """Put every env in ``state`` (shape ``(num_envs, 4)``) at step 0."""
        self.state = th.as_tensor(state, dtype=th.float64, device=self.device).clone()
        self.steps.zero_()
        return self.state.float()

    def physics(self, state: th.Tensor, action: th.Tensor) -> th.Tensor:
        """gymnasium's ``CartPoleEnv.step`` equations (Euler), batched: ``(n, 4) -> (n, 4)``.

        On CPU the same function (and the termination test) runs on numpy views of the
        tensors: numpy's per-call cost is a fraction of torch's, so a step of 32-1,024 envs
        takes 40% less (the same from 8k envs), and env steps were a quarter of an ACT
        generation at population 32. Both are float64; they agree exactly on small batches
        and to 1 ulp on large ones (where torch vectorises sin and cos differently)."""
        if state.device.type == "cpu":
            return th.from_numpy(cartpole_step(state.numpy(), action.numpy()))
        return cartpole_step(state, action)

    def _terminated(self, state: th.Tensor) -> th.Tensor:
        if state.device.type == "cpu":  # through numpy, as physics
            return th.from_numpy(cartpole_terminated(state.numpy()))
        return cartpole_terminated(state)

    def step(self, action: th.Tensor) -> Step:
        """Step all envs with ``action`` (shape ``(num_envs,)``, 0 = push left, 1 = right)."""
        action = th.as_tensor(action, device=self.device).reshape(self.num_envs)
        self.state = self.physics(self.state, action)
        self.steps += 1
        terminated = self._terminated(self.state)
        truncated = (self.steps >= self.max_episode_steps) & ~terminated
        final_obs = self.state.float()
        done = terminated | truncated
        if bool(done.any()):
            fresh = self._sample_states(self.num_envs)
            self.state = th.where(done[:, None], fresh, self.state)
            self.steps = th.where(done, 0, self.steps)
        reward = th.ones(self.num_envs, device=self.device)
        return Step(self.state.float(), final_obs, reward, terminated, truncated)
