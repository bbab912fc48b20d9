"""Cheap-talk channels: an adversary appends a message to the victim's observation.

Adversarial Cheap Talk (Lu et al., ICML 2023, section 3): the message is
``m = scale * tanh(f(obs))`` (default 2 dims, scale 2*pi) and is the adversary's only lever:
it sees the environment observation and nothing else (not the victim's actions, reward or
parameters), and cannot change the dynamics, the reward or the true observation.

That restriction is enforced by the API: a message source is a callable that the wrapper calls
as ``source(obs)`` with a *copy* of the flattened environment observation, shape
``(n, obs_dim)`` float32, and nothing else; it is never handed the env, the wrapper, an action
or a reward. It returns the pre-squash output ``f(obs)`` with shape ``(n, dims)``.

Sources: :class:`FixedMessage` (constant), :class:`RandomMessage` (i.i.d. Gaussian through
its own seeded generator), :class:`LearnedMessage` (a small torch MLP whose parameters are a
flat vector, the search space of ACT's evolution strategy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, SupportsFloat, runtime_checkable

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv

from advrl.vec_observation import VecTransformObservation, check_sb3_venv


@runtime_checkable
class MessageSource(Protocol):
    """``source(obs) -> f(obs)``: obs shape ``(n, obs_dim)``, output shape ``(n, dims)``."""

    dims: int

    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


def _check_dims(dims: Any) -> int:
    if isinstance(dims, bool) or not isinstance(dims, int | np.integer) or dims <= 0:
        raise ValueError(f"message dims must be an integer > 0, got {dims!r}")
    return int(dims)


class FixedMessage:
    """The same pre-squash output ``values`` for every observation.

    Example:
        >>> FixedMessage([0.0, 1.0])(np.zeros((3, 4), np.float32)).shape
        (3, 2)
    """

    def __init__(self, values: Sequence[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
            raise ValueError(
                f"values must be a non-empty 1-D array of finite numbers, got {values!r}"
            )
        self.values = values
        self.dims = int(values.size)

    @classmethod
    def from_message(cls, message: Sequence[float], scale: float = 2 * math.pi) -> FixedMessage:
        """The source whose message (after ``scale * tanh``) is ``message`` (``|m| < scale``)."""
        message = np.asarray(message, dtype=np.float64)
        if not (np.abs(message) < scale).all():
            raise ValueError(f"each message entry must lie in (-{scale}, {scale}), got {message}")
        return cls(np.arctanh(message / scale))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.repeat(self.values[None], len(obs), axis=0)


class RandomMessage:
    """I.i.d. ``N(0, std^2)`` pre-squash outputs from the source's own generator.

    ``seed(s)`` restarts the generator; :class:`AddCheapTalk` calls it on ``reset(seed=s)``.

    Example:
        >>> a, b = RandomMessage(2, seed=0), RandomMessage(2, seed=0)
        >>> obs = np.zeros((1, 4), np.float32)
        >>> bool((a(obs) == b(obs)).all())
        True
    """

    def __init__(self, dims: int = 2, std: float = 1.0, seed: int | None = None) -> None:
        self.dims = _check_dims(dims)
        if not (isinstance(std, int | float) and math.isfinite(std) and std > 0):
            raise ValueError(f"std must be a finite number > 0, got {std!r}")
        self.std = float(std)
        self.rng = np.random.default_rng(seed)

    def seed(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return (self.std * self.rng.standard_normal((len(obs), self.dims))).astype(np.float32)


class LearnedMessage(th.nn.Module):
    """A small MLP ``obs -> f(obs)``; ``flat`` / ``set_flat`` expose its parameters as one
    vector (what an evolution strategy searches over, ACT section 4).

    Args:
        obs_dim: size of the flattened observation.
        dims: message size.
        hidden: hidden layer sizes (tanh activations).
        seed: seed of the initial weights.
        device: torch device of the network.

    Example:
        >>> src = LearnedMessage(4, dims=2, hidden=(8,), seed=0)
        >>> src.set_flat(np.zeros(src.num_params))
        >>> src(np.ones((5, 4), np.float32))
        array([[0., 0.],
               [0., 0.],
               [0., 0.],
               [0., 0.],
               [0., 0.]], dtype=float32)
    """

    def __init__(
        self,
        obs_dim: int,
        dims: int = 2,
        hidden: Sequence[int] = (32,),
        seed: int | None = None,
        device: th.device | str = "cpu",
    ) -> None:
        super().__init__()
        self.obs_dim, self.dims = _check_dims(obs_dim), _check_dims(dims)
        sizes = [self.obs_dim, *(_check_dims(h) for h in hidden), self.dims]
        generator = th.Generator().manual_seed(0 if seed is None else int(seed))
        layers: list[th.nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            linear = th.nn.Linear(n_in, n_out)
            with th.no_grad():  # explicit generator: construction is deterministic per seed
                bound = 1.0 / math.sqrt(n_in)
                linear.weight.copy_(
                    th.empty(n_out, n_in).uniform_(-bound, bound, generator=generator)
                )
                linear.bias.zero_()
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(th.nn.Tanh())
        self.net = th.nn.Sequential(*layers).to(device)
        self.hidden = tuple(sizes[1:-1])

    @property
    def device(self) -> th.device:
        return next(self.parameters()).device

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flat(self) -> np.ndarray:
        """All parameters as one float32 vector, shape ``(num_params,)``."""
        return th.nn.utils.parameters_to_vector(self.parameters()).detach().cpu().numpy()

    def set_flat(self, vector: np.ndarray | th.Tensor) -> None:
        vector = th.as_tensor(vector, dtype=th.float32, device=self.device).reshape(-1)
        if vector.numel() != self.num_params:
            raise ValueError(f"expected {self.num_params} parameters, got {vector.numel()}")
        th.nn.utils.vector_to_parameters(vector, self.parameters())

    def forward(self, obs: np.ndarray | th.Tensor) -> Any:  # type: ignore[override]
        # numpy in, numpy out (the MessageSource contract); tensors stay tensors.
        as_numpy = not isinstance(obs, th.Tensor)
        x = th.as_tensor(obs, dtype=th.float32, device=self.device)
        if x.shape[-1] != self.obs_dim:
            raise ValueError(f"expected observations of size {self.obs_dim}, got {tuple(x.shape)}")
        with th.no_grad():
            out = self.net(x)
        return out.cpu().numpy() if as_numpy else out


def message_space(space: gym.Space, dims: int, scale: float, key: str) -> gym.Space:
    """The victim's observation space once a ``dims``-sized message is added to ``space``."""
    dims = _check_dims(dims)
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if isinstance(space, gym.spaces.Box):
        if len(space.shape) != 1:
            raise ValueError(
                f"a Box observation must be 1-D to append a message, got shape {space.shape}; "
                "wrap it in a Dict space to add the message as a key"
            )
        dtype = space.dtype if np.issubdtype(space.dtype, np.floating) else np.float32
        bound = np.full(dims, scale, dtype=dtype)
        low = np.concatenate([space.low.astype(dtype), -bound])
        high = np.concatenate([space.high.astype(dtype), bound])
        return gym.spaces.Box(low, high, dtype=dtype)
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(key, str) or key in space.spaces:
            raise ValueError(
                f"key must be a str not already in the Dict observation {list(space.spaces)}, "
                f"got {key!r}; pass another key (e.g. key='cheap_talk' on NetHack, whose "
                "observation already has a 'message')"
            )
        message = gym.spaces.Box(-scale, scale, (dims,), dtype=np.float32)
        return gym.spaces.Dict({**space.spaces, key: message})
    raise TypeError(f"cheap talk needs a Box or Dict observation space, got {type(space).__name__}")


def _as_source(source: Any, dims: int, seed: int | None = None) -> MessageSource:
    if isinstance(source, str):
        if source == "random":
            return RandomMessage(dims, seed=seed)
        if source == "zero":
            return FixedMessage(np.zeros(dims))
        raise ValueError(f"unknown message source {source!r}; allowed: 'random', 'zero', a source")
    if not callable(source):
        raise TypeError(f"source must be callable obs -> f(obs), got {type(source).__name__}")
    if getattr(source, "dims", dims) != dims:
        raise ValueError(f"the source makes {source.dims}-dim messages but dims={dims}")
    return source


class _Channel:
    """The shared core: flatten a copy of the obs, call the source, squash, attach."""

    def __init__(self, space: gym.Space, source: Any, dims: int, scale: float, key: str) -> None:
        self.space = message_space(space, dims, scale, key)
        self.inner, self.dims, self.scale, self.key = space, int(dims), float(scale), key
        self.source = _as_source(source, self.dims)

    def flat_batch(self, obs: Any, n: int) -> np.ndarray:
        """A fresh float32 ``(n, obs_dim)`` copy: the source can neither mutate the victim's
        observation nor reach anything but it."""
        if isinstance(self.inner, gym.spaces.Dict):
            rows = [
                gym.spaces.flatten(self.inner, {k: v[i] for k, v in obs.items()}) for i in range(n)
            ]
            return np.asarray(rows, dtype=np.float32)
        return np.array(obs, dtype=np.float32, copy=True).reshape(n, -1)

    def messages(self, obs: Any, n: int) -> np.ndarray:
        raw = np.asarray(self.source(self.flat_batch(obs, n)), dtype=np.float64)
        if raw.shape != (n, self.dims):
            raise ValueError(
                f"the message source returned shape {raw.shape}, expected {(n, self.dims)}"
            )
        if not np.isfinite(raw).all():
            raise ValueError("the message source returned non-finite values")
        return self.scale * np.tanh(raw)

    def attach(self, obs: Any, message: np.ndarray) -> Any:
        """``obs`` batched ``(n, ...)`` with ``message`` ``(n, dims)`` appended."""
        if isinstance(self.inner, gym.spaces.Dict):
            return {**obs, self.key: message.astype(np.float32)}
        dtype = self.space.dtype
        return np.concatenate([np.asarray(obs, dtype=dtype), message.astype(dtype)], axis=-1)

    def transform(self, obs: Any, n: int) -> tuple[Any, dict[str, np.ndarray]]:
        """A batch of ``n`` observations with their messages attached, and the messages
        (the one call both batched wrappers, SB3 and Gymnasium vector, make per batch)."""
        message = self.messages(obs, n)
        return self.attach(obs, message), {"message": message.astype(np.float32)}

    def reseed(self, seed: int | None) -> None:
        if seed is not None and hasattr(self.source, "seed"):
            self.source.seed(int(np.random.SeedSequence([seed, 0xC7]).generate_state(1)[0]))


class AddCheapTalk(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Append ``scale * tanh(source(obs))`` to every observation (the cheap-talk MDP).

    Box observations (1-D) get the message concatenated, with bounds widened by
    ``[-scale, scale]``; Dict observations get it under ``key``. ``info["obs_clean"]`` holds the
    observation without the message, ``info["message"]`` the message.

    Args:
        env: the victim's env.
        source: a :class:`MessageSource`, or ``"random"`` / ``"zero"``.
        dims: message size (> 0); must match ``source.dims``.
        scale: message bound (> 0); the paper trains with ``2 * pi``.
        key: Dict key for the message.

    Example:
        >>> import gymnasium as gym
        >>> env = AddCheapTalk(gym.make("CartPole-v1"), RandomMessage(2, seed=0))
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, info["obs_clean"].shape
        ((6,), (4,))
        >>> bool(abs(obs[4:]).max() <= 2 * math.pi)
        True
    """

    def __init__(
        self,
        env: gym.Env,
        source: MessageSource | str,
        dims: int = 2,
        scale: float = 2 * math.pi,
        key: str = "message",
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, source=source, dims=dims, scale=scale, key=key
        )
        gym.ObservationWrapper.__init__(self, env)
        self.channel = _Channel(env.observation_space, source, dims, scale, key)
        self.observation_space = self.channel.space
        self.source = self.channel.source

    def _talk(self, obs: Any, info: dict[str, Any]) -> Any:
        batched = (
            {k: np.asarray(v)[None] for k, v in obs.items()}
            if isinstance(obs, dict)
            else np.asarray(obs)[None]
        )
        message = self.channel.messages(batched, 1)
        info["obs_clean"] = obs
        info["message"] = message[0].astype(np.float32)
        out = self.channel.attach(batched, message)
        return {k: v[0] for k, v in out.items()} if isinstance(out, dict) else out[0]

    def observation(self, observation: Any) -> Any:
        return self._talk(observation, {})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.channel.reseed(seed)
        obs, info = self.env.reset(seed=seed, options=options)
        return self._talk(obs, info), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._talk(obs, info), reward, terminated, truncated, info


class VecAddCheapTalk(VecTransformObservation):
    """:class:`AddCheapTalk` for an SB3 VecEnv: one batched source call for all envs.

    Info keys, per env: ``obs_clean`` and ``message`` belong to the observation returned for
    that env (after an auto-reset, the next episode's first one). Where an episode ended,
    ``terminal_observation`` carries a message from that final observation (as the victim
    would have seen it), ``terminal_obs_clean`` is the final observation without it and
    ``terminal_message`` the message. ``reset_infos[i]`` (SB3's reset infos) gets
    ``obs_clean`` and ``message`` of env ``i``'s latest reset, as :class:`AddCheapTalk`'s
    reset info does. The ended envs' final observations are messaged in one extra source
    call before the step's, the order :class:`AddCheapTalk` uses, so with one env and the same
    seed a random source gives the same messages.

    Example:
        >>> from stable_baselines3.common.env_util import make_vec_env
        >>> venv = VecAddCheapTalk(make_vec_env("CartPole-v1", n_envs=3), "random")
        >>> venv.reset().shape, sorted(venv.reset_infos[0])
        ((3, 6), ['message', 'obs_clean'])
        >>> venv.step(np.zeros(3, dtype=int))[3][0]["message"].shape
        (2,)
    """

    def __init__(
        self,
        venv: VecEnv,
        source: MessageSource | str,
        dims: int = 2,
        scale: float = 2 * math.pi,
        key: str = "message",
    ) -> None:
        check_sb3_venv(venv, "VecAddCheapTalk", "advrl.envs.vector.AddCheapTalk")
        self.channel = _Channel(venv.observation_space, source, dims, scale, key)
        super().__init__(venv, observation_space=self.channel.space)
        self.source = self.channel.source

    def transform(self, obs: Any, n: int) -> tuple[Any, dict[str, np.ndarray]]:
        return self.channel.transform(obs, n)

    def seed(self, seed: int | None = None) -> Any:
        self.channel.reseed(seed)
        return self.venv.seed(seed)
