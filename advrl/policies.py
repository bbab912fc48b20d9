"""TorchPolicy adapters over Stable-Baselines3 models.

Attacks, smoothing and certificates never touch SB3 internals: they see a victim through
:class:`~advrl.types.TorchPolicy`. :func:`from_sb3` builds one for PPO/A2C (Gaussian and
categorical), SAC/TD3 (deterministic actors) and DQN (Q-values), optionally composed with
the observation normaliser of a ``VecNormalize``.

Example:
    >>> import gymnasium as gym
    >>> from stable_baselines3 import PPO
    >>> model = PPO("MlpPolicy", gym.make("CartPole-v1"), policy_kwargs=dict(net_arch=[8]))
    >>> policy = from_sb3(model)
    >>> policy.action_logits(th.zeros(3, 4)).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import DQN, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, unwrap_vec_normalize

from advrl.types import TorchPolicy
from advrl.zoo import ZooPolicy
from advrl.zoo.checkpoint import ObsStats

__all__ = [
    "NoVictim",
    "ObsNormalizer",
    "RawInputPolicy",
    "check_obs_batch",
    "check_policy",
    "from_sb3",
]


class ObsNormalizer:
    """Torch version of SB3 ``VecNormalize`` observation normalisation with frozen stats.

    ``normalize(x) = clip((x - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``.
    """

    def __init__(self, stats: ObsStats, device: th.device | str = "cpu") -> None:
        self.stats = stats
        self.mean = th.as_tensor(np.asarray(stats.mean), dtype=th.float32, device=device)
        self.std = th.sqrt(
            th.as_tensor(np.asarray(stats.var), dtype=th.float32, device=device) + stats.epsilon
        )
        self.clip = float(stats.clip_obs)

    @classmethod
    def from_vec_normalize(
        cls, venv: VecNormalize, device: th.device | str = "cpu"
    ) -> ObsNormalizer:
        if not venv.norm_obs:
            raise ValueError("VecNormalize has norm_obs=False: there is no observation normaliser")
        return cls(ObsStats.from_vec_normalize(venv), device)

    def normalize(self, raw: th.Tensor) -> th.Tensor:
        return th.clamp((raw - self.mean) / self.std, -self.clip, self.clip)

    def unnormalize(self, obs: th.Tensor) -> th.Tensor:
        return obs * self.std + self.mean


def check_obs_batch(obs: th.Tensor, space: gym.spaces.Box, what: str = "obs") -> None:
    """Raise a clear ``ValueError`` unless ``obs`` is a finite float batch of ``space``."""
    if not isinstance(obs, th.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(obs).__name__}")
    if tuple(obs.shape[1:]) != tuple(space.shape) or obs.ndim != len(space.shape) + 1:
        raise ValueError(
            f"{what} has shape {tuple(obs.shape)}; "
            f"the policy expects (batch, *{tuple(space.shape)})"
        )
    if not th.is_floating_point(obs):
        raise TypeError(f"{what} must be a floating-point tensor, got dtype {obs.dtype}")
    if not bool(th.isfinite(obs).all()):
        raise ValueError(
            f"{what} contains NaN or infinite values; attacks need finite observations"
        )


_POLICY_TYPES: set[type] = set()
"""Types already seen to satisfy TorchPolicy: the Protocol check costs ~60 us, a set lookup
~50 ns, and attacks check their victim on every call."""


def _adapt_hint(obj: object) -> str:
    """How to turn a common wrong victim into a TorchPolicy."""
    if isinstance(obj, BaseAlgorithm):
        return f"got a {type(obj).__name__} model; adapt it with advrl.policies.from_sb3(model)"
    if isinstance(obj, ZooPolicy):
        return "got a ZooPolicy; use its .torch_policy()"
    return f"got {obj!r}" if obj is None else f"got {type(obj).__name__}"


def check_policy(policy: object, name: str = "policy") -> TorchPolicy:
    """Return ``policy`` if it is a :class:`~advrl.types.TorchPolicy`, else a ``TypeError``
    saying how to build one (an SB3 model, a zoo policy or None are the usual mistakes)."""
    if type(policy) in _POLICY_TYPES:
        return policy  # type: ignore[return-value]  # checked when the type was first seen
    if not isinstance(policy, TorchPolicy):
        raise TypeError(
            f"{name} must be a TorchPolicy (e.g. advrl.policies.from_sb3(model)), "
            f"{_adapt_hint(policy)}"
        )
    _POLICY_TYPES.add(type(policy))
    return policy


class _SB3Policy:
    """Shared plumbing: spaces, device, optional normaliser."""

    def __init__(self, model: BaseAlgorithm, normalizer: ObsNormalizer | None) -> None:
        if not isinstance(model.observation_space, gym.spaces.Box):
            raise TypeError(
                f"TorchPolicy needs a Box observation space, got {model.observation_space}"
            )
        self.model = model
        self.observation_space: gym.spaces.Box = model.observation_space
        self.action_space: gym.spaces.Space = model.action_space
        self.device: th.device = model.device
        self.normalizer = normalizer
        model.policy.set_training_mode(False)

    def __deepcopy__(self, memo: dict) -> _SB3Policy:
        # A victim is shared, never copied: env specs deep-copy wrapper kwargs on every
        # access, and a copy of the model would silently detach attack from victim.
        return self

    @property
    def is_discrete(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    def normalize(self, raw_obs: th.Tensor) -> th.Tensor:
        return raw_obs if self.normalizer is None else self.normalizer.normalize(raw_obs)

    def unnormalize(self, obs: th.Tensor) -> th.Tensor:
        return obs if self.normalizer is None else self.normalizer.unnormalize(obs)

    def action_logits(self, obs: th.Tensor) -> th.Tensor | None:
        return None

    def action_std(self, obs: th.Tensor) -> th.Tensor | None:
        return None

    def _unscale(self, scaled: th.Tensor) -> th.Tensor:
        """[-1, 1] actor output -> env action units (SB3 ``unscale_action``)."""
        low = th.as_tensor(self.action_space.low, dtype=scaled.dtype, device=scaled.device)
        high = th.as_tensor(self.action_space.high, dtype=scaled.dtype, device=scaled.device)
        return low + 0.5 * (scaled + 1.0) * (high - low)


class ActorCriticAdapter(_SB3Policy):
    """PPO / A2C with a diagonal Gaussian or categorical action distribution."""

    def __init__(self, model: BaseAlgorithm, normalizer: ObsNormalizer | None) -> None:
        super().__init__(model, normalizer)
        policy = model.policy
        assert isinstance(policy, ActorCriticPolicy)
        if not isinstance(policy.action_dist, DiagGaussianDistribution | CategoricalDistribution):
            raise TypeError(
                f"unsupported action distribution {type(policy.action_dist).__name__}; "
                "allowed: DiagGaussianDistribution, CategoricalDistribution (no gSDE)"
            )
        self._policy = policy

    def _action_net_output(self, obs: th.Tensor) -> th.Tensor:
        """Gaussian mean or categorical logits. Computed directly rather than through
        ``get_distribution``: building a torch Distribution costs a third of the forward
        pass, and attacks call this ten times per step."""
        policy = self._policy
        features = policy.extract_features(obs, policy.pi_features_extractor)
        return policy.action_net(policy.mlp_extractor.forward_actor(features))

    def action(self, obs: th.Tensor) -> th.Tensor:
        out = self._action_net_output(obs)
        return out.argmax(dim=-1) if self.is_discrete else out

    def action_logits(self, obs: th.Tensor) -> th.Tensor | None:
        return self._action_net_output(obs) if self.is_discrete else None

    def action_std(self, obs: th.Tensor) -> th.Tensor | None:
        if self.is_discrete:
            return None
        # DiagGaussianDistribution: a state-independent log-std parameter.
        return self._policy.log_std.exp().expand(obs.shape[0], -1)

    def value(self, obs: th.Tensor) -> th.Tensor | None:
        return self._policy.predict_values(obs).squeeze(-1)


class SACAdapter(_SB3Policy):
    """SAC seen as its deterministic actor (tanh of the Gaussian mean) and first critic."""

    def _scaled_action(self, obs: th.Tensor) -> th.Tensor:
        return self.model.policy.actor(obs, deterministic=True)

    def action(self, obs: th.Tensor) -> th.Tensor:
        return self._unscale(self._scaled_action(obs))

    def value(self, obs: th.Tensor) -> th.Tensor | None:
        return self.model.policy.critic(obs, self._scaled_action(obs))[0].squeeze(-1)


class TD3Adapter(_SB3Policy):
    """TD3 (and DDPG): deterministic actor, Q1 critic."""

    def _scaled_action(self, obs: th.Tensor) -> th.Tensor:
        return self.model.policy.actor(obs)

    def action(self, obs: th.Tensor) -> th.Tensor:
        return self._unscale(self._scaled_action(obs))

    def value(self, obs: th.Tensor) -> th.Tensor | None:
        return self.model.policy.critic.q1_forward(obs, self._scaled_action(obs)).squeeze(-1)


class DQNAdapter(_SB3Policy):
    """DQN: Q-values serve as logits; the value is max_a Q(s, a)."""

    def action(self, obs: th.Tensor) -> th.Tensor:
        return self.model.q_net(obs).argmax(dim=-1)

    def action_logits(self, obs: th.Tensor) -> th.Tensor | None:
        return self.model.q_net(obs)

    def value(self, obs: th.Tensor) -> th.Tensor | None:
        return self.model.q_net(obs).max(dim=-1).values


class RawInputPolicy:
    """View a policy through raw env observations: inputs are normalised on the way in.

    Use it to put an attack budget in the raw observation space instead of the normalised one.
    """

    def __init__(self, policy) -> None:
        self.inner = policy
        self.action_space = policy.action_space
        self.device = policy.device
        space = policy.observation_space
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, space.shape, np.float32)

    def __deepcopy__(self, memo: dict) -> RawInputPolicy:
        return self  # shared like the policy it wraps

    @property
    def is_discrete(self) -> bool:
        return self.inner.is_discrete

    def normalize(self, raw_obs: th.Tensor) -> th.Tensor:
        return raw_obs

    def unnormalize(self, obs: th.Tensor) -> th.Tensor:
        return obs

    def action(self, obs):
        return self.inner.action(self.inner.normalize(obs))

    def action_logits(self, obs):
        return self.inner.action_logits(self.inner.normalize(obs))

    def action_std(self, obs):
        return self.inner.action_std(self.inner.normalize(obs))

    def value(self, obs):
        return self.inner.value(self.inner.normalize(obs))


def _check_model(model: object) -> None:
    if isinstance(model, BaseAlgorithm):
        return
    allowed = "a stable-baselines3 model (PPO, A2C, SAC, TD3, DDPG, DQN)"
    if isinstance(model, type):
        raise TypeError(
            f"from_sb3 expects {allowed}, got the class {model.__name__}; pass a model instance"
        )
    if isinstance(model, ZooPolicy):
        raise TypeError(
            f"from_sb3 expects {allowed}, got a ZooPolicy; use its .torch_policy() "
            "(or from_sb3(zoo_policy.model, obs_stats=zoo_policy.obs_stats))"
        )
    raise TypeError(f"from_sb3 expects {allowed}, got {type(model).__name__}")


def _check_obs_stats(obs_stats: object, model: BaseAlgorithm) -> None:
    if not isinstance(obs_stats, ObsStats):
        raise TypeError(f"obs_stats must be an ObsStats or None, got {obs_stats!r}")
    expected = tuple(model.observation_space.shape or ())
    for field in ("mean", "var"):
        shape = np.shape(getattr(obs_stats, field))
        if shape != expected:
            raise ValueError(f"obs_stats.{field} has shape {shape}; the model observes {expected}")


def from_sb3(
    model: BaseAlgorithm, venv: VecEnv | None = None, *, obs_stats: ObsStats | None = None
) -> _SB3Policy:
    """Adapt an SB3 model to :class:`~advrl.types.TorchPolicy`.

    Args:
        model: a PPO, A2C, SAC, TD3 (or DDPG) or DQN model with a Box observation space.
        venv: the model's env; if it contains a ``VecNormalize`` with ``norm_obs``, its
            current statistics are copied (frozen) into the adapter's normaliser.
        obs_stats: normaliser statistics given directly (e.g. from a zoo checkpoint).

    Returns:
        A TorchPolicy whose inputs are in the model's (normalised) observation space.
    """
    _check_model(model)
    if venv is not None and not isinstance(venv, VecEnv):
        raise TypeError(
            f"venv must be an SB3 VecEnv or None, got {venv!r}; a gym env has no "
            "VecNormalize statistics to copy"
        )
    if obs_stats is not None:
        _check_obs_stats(obs_stats, model)
    if venv is not None and obs_stats is not None:
        raise ValueError("pass either venv or obs_stats, not both")
    normalizer = None
    if obs_stats is not None:
        normalizer = ObsNormalizer(obs_stats, model.device)
    elif venv is not None:
        vec_normalize = unwrap_vec_normalize(venv)
        if vec_normalize is not None and vec_normalize.norm_obs:
            normalizer = ObsNormalizer.from_vec_normalize(vec_normalize, model.device)
    if isinstance(model.policy, ActorCriticPolicy):
        return ActorCriticAdapter(model, normalizer)
    if isinstance(model, SAC):
        return SACAdapter(model, normalizer)
    if isinstance(model, TD3):  # DDPG subclasses TD3 in SB3
        return TD3Adapter(model, normalizer)
    if isinstance(model, DQN):
        return DQNAdapter(model, normalizer)
    raise TypeError(
        f"no TorchPolicy adapter for {type(model).__name__}; allowed: PPO, A2C, SAC, TD3, DDPG, DQN"
    )


class NoVictim:
    """A stand-in for victim-free attacks (random noise): only the observation space.

    Its inputs are raw observations; every behavioural method raises, so a gradient attack
    given no victim fails with a clear message instead of attacking nothing.
    """

    def __init__(self, observation_space: gym.spaces.Box) -> None:
        self.observation_space = observation_space
        self.action_space = gym.spaces.Discrete(1)
        self.device = th.device("cpu")
        self.is_discrete = False

    def normalize(self, raw_obs: th.Tensor) -> th.Tensor:
        return raw_obs

    def unnormalize(self, obs: th.Tensor) -> th.Tensor:
        return obs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoVictim) and other.observation_space == self.observation_space

    def __hash__(self) -> int:
        return hash(self.observation_space.shape)

    def _missing(self, *_args):
        raise ValueError(
            "this attack needs a victim policy; pass victim=<zoo name> or a TorchPolicy"
        )

    action = action_logits = action_std = value = _missing
