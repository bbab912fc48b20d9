"""A reference ("safe") policy that acts at random a fraction of the time.

ORPO's reference policies are trained on the true reward and then act with epsilon-random
actions (10% in the paper), so their occupancy measure covers every state-action pair.
"""

from __future__ import annotations

import numpy as np
import torch as th

from advrl.types import TorchPolicy


class EpsilonReference:
    """``pi_ref = (1 - epsilon) * pi + epsilon * uniform`` over a TorchPolicy (raw inputs).

    ``predict`` follows SB3's signature so ORPO can roll it out; ``action_logits`` gives the
    mixture's log-probabilities (discrete) for the action-distribution baseline.

    Example:
        >>> import advrl.zoo
        >>> ref = EpsilonReference(advrl.zoo.load("ppo-cartpole").torch_policy(), 0.1, seed=0)
        >>> actions, _ = ref.predict(np.zeros((3, 4), dtype=np.float32))
        >>> actions.shape
        (3,)
    """

    def __init__(self, policy: TorchPolicy, epsilon: float = 0.1, seed: int | None = None) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.policy, self.epsilon = policy, float(epsilon)
        # Observations arrive raw (what the env emits); the policy normalises them itself.
        self.action_space, self.observation_space = policy.action_space, policy.observation_space
        self.rng = np.random.default_rng(seed)

    def action_logits(self, raw_obs: th.Tensor) -> th.Tensor:
        """Log-probabilities of the mixture, shape (batch, n_actions); discrete only."""
        logits = self.policy.action_logits(self.policy.normalize(raw_obs))
        if logits is None:
            raise ValueError("action_logits needs a discrete reference policy")
        probs = (1 - self.epsilon) * th.softmax(logits, -1) + self.epsilon / logits.shape[-1]
        return probs.log()

    def predict(self, obs, state=None, episode_start=None, deterministic: bool = False):
        x = th.as_tensor(np.asarray(obs), dtype=th.float32, device=self.policy.device)
        with th.no_grad():
            if self.policy.is_discrete:
                probs = self.action_logits(x).exp().cpu().numpy().astype(np.float64)
                probs /= probs.sum(axis=1, keepdims=True)
                if deterministic:
                    return probs.argmax(axis=1), state
                u = self.rng.random((len(probs), 1))
                return (u > probs.cumsum(axis=1)).sum(axis=1), state
            z = self.policy.normalize(x)
            action = self.policy.action(z)
            std = self.policy.action_std(z)
            action = action.cpu().numpy()
            if std is not None and not deterministic:
                action = action + std.cpu().numpy() * self.rng.standard_normal(action.shape)
        low, high = self.action_space.low, self.action_space.high
        uniform = self.rng.uniform(low, high, action.shape)
        mask = self.rng.random(len(action)) < self.epsilon
        action[mask] = uniform[mask]
        return np.clip(action, low, high), state
