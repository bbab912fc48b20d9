"""Reward networks on transitions ``(obs, action, next_obs)`` and their weights-only files.

A :class:`RewardNet` is an MLP on the concatenation of whichever of the three inputs it is
configured to read (flattened observations; one-hot actions for ``Discrete`` spaces). Its
output goes through a fixed affine normalisation ``(raw - offset) / scale`` (buffers, set by
:meth:`RewardNet.normalize_on`): Bradley-Terry preferences fix a reward only up to a
constant per step and a scale set by the label noise, so members of an ensemble are put on
a common scale (mean 0, std 1 on the training transitions) before their outputs are
compared or aggregated (Coste et al. 2024 normalise their reward models the same way).

``spectral_norm=True`` spectral-normalises every linear layer (Miyato et al. 2018, through
:func:`advrl.agents.lipschitz.spectral_normalize`): with the 1-Lipschitz activations offered
here the raw MLP is then 1-Lipschitz in its features, and the normalised output
``1 / scale``-Lipschitz. The power iteration that estimates each layer's top singular value
runs on training-mode forwards only; every serving path (:meth:`RewardNet.predict`, the numpy
fast path, :meth:`RewardNet.normalize_on`) uses the eval-mode weight ``W / sigma`` from the
stored singular vectors, so serving never changes the net.

Files are safetensors: the tensors plus a JSON header naming the architecture; nothing is
unpickled on load (see :func:`save_reward_model`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save as safetensors_save
from torch import nn

from advrl.agents.lipschitz import spectral_normalize
from advrl.zoo.checkpoint import atomic_write_bytes

INPUTS = ("obs", "action", "next_obs")
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh,
                                           "leaky_relu": nn.LeakyReLU}  # fmt: skip
HEADER_KEY = "advrl_reward_model"


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """The part of a space a reward net needs: its shape, or ``n`` for ``Discrete``."""
    if isinstance(space, gym.spaces.Discrete):
        return {"discrete": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        return {"shape": list(space.shape)}
    raise TypeError(f"reward nets take Box or Discrete spaces, got {space!r}")


def space_from_json(spec: dict[str, Any]) -> gym.Space:
    if "discrete" in spec:
        return gym.spaces.Discrete(int(spec["discrete"]))
    return gym.spaces.Box(-np.inf, np.inf, tuple(spec["shape"]), np.float32)


class RewardNet(nn.Module):
    """MLP reward ``r(obs, action, next_obs)``, shape ``(batch,)``.

    Args:
        observation_space: a ``Box`` (observations are flattened).
        action_space: ``Box`` (flattened) or ``Discrete`` (one-hot).
        hidden: hidden layer sizes.
        inputs: which of ``"obs"``, ``"action"``, ``"next_obs"`` the net reads (any
            non-empty subset; the order does not matter).
        activation: ``"relu"``, ``"tanh"`` or ``"leaky_relu"``.
        spectral_norm: spectral-normalise every linear layer (module docstring).
        device: where the parameters live; inputs are moved there.

    Example:
        >>> import gymnasium as gym
        >>> net = RewardNet(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2))
        >>> net(th.zeros(5, 3), th.zeros(5, dtype=th.long), th.zeros(5, 3)).shape
        torch.Size([5])
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden: tuple[int, ...] | list[int] = (64, 64),
        inputs: tuple[str, ...] | list[str] = INPUTS,
        activation: str = "relu",
        spectral_norm: bool = False,
        device: th.device | str = "cpu",
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, gym.spaces.Box):
            raise TypeError(f"observation_space must be a Box, got {observation_space!r}")
        bad = [i for i in inputs if i not in INPUTS]
        if bad or not inputs or len(set(inputs)) != len(inputs):
            raise ValueError(
                f"inputs must be a non-empty subset of {list(INPUTS)} without repeats, "
                f"got {list(inputs)!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; allowed: {sorted(ACTIVATIONS)}")
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {list(hidden)!r}")
        self.observation_space, self.action_space = observation_space, action_space
        self.obs_shape = tuple(observation_space.shape)
        self.config = {
            "observation_space": space_to_json(observation_space),
            "action_space": space_to_json(action_space),
            "hidden": [int(h) for h in hidden],
            "inputs": [i for i in INPUTS if i in inputs],  # canonical order
            "activation": activation,
            "spectral_norm": bool(spectral_norm),
        }
        self.discrete_n = action_space.n if isinstance(action_space, gym.spaces.Discrete) else 0
        self.act_dim = int(self.discrete_n or gym.spaces.flatdim(action_space))
        obs_dim = int(np.prod(self.obs_shape))
        dims = {"obs": obs_dim, "action": self.act_dim, "next_obs": obs_dim}
        sizes = (sum(dims[i] for i in self.config["inputs"]), *self.config["hidden"])
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))
        if spectral_norm:
            spectral_normalize(self.net)
        self.register_buffer("offset", th.zeros(()))
        self.register_buffer("scale", th.ones(()))
        self.to(th.device(device))
        self._numpy_cache: tuple | None = None

    @property
    def device(self) -> th.device:
        """Where the parameters are (follows ``.to()``)."""
        return self.offset.device

    def _check_batch(self, obs: tuple, actions: tuple, next_obs: tuple) -> None:
        if tuple(obs[1:]) != self.obs_shape or tuple(next_obs) != tuple(obs):
            raise ValueError(
                f"obs and next_obs must have shape (batch, *{self.obs_shape}), got "
                f"{tuple(obs)} and {tuple(next_obs)}"
            )
        if len(actions) == 0 or actions[0] != obs[0]:
            raise ValueError(f"actions have shape {tuple(actions)}, observations {tuple(obs)}")

    def features(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        """The MLP input, shape ``(batch, features)``; checks the batch shapes."""
        self._check_batch(obs.shape, actions.shape, next_obs.shape)
        batch = obs.shape[0]
        parts = []
        for name in self.config["inputs"]:
            if name == "action":
                if self.discrete_n:
                    acts = actions.reshape(batch, -1)[:, 0].long().to(self.device)
                    parts.append(F.one_hot(acts, self.discrete_n).float())
                else:
                    parts.append(actions.reshape(batch, -1).float().to(self.device))
            else:
                x = obs if name == "obs" else next_obs
                parts.append(x.reshape(batch, -1).float().to(self.device))
        return th.cat(parts, dim=1)

    def differentiable_columns(self) -> th.Tensor:
        """Indices of the feature columns with a meaningful input gradient: all but a
        ``Discrete`` action's one-hot, shape ``(n,)`` (empty when the net reads only that)."""
        dims = {"obs": int(np.prod(self.obs_shape)), "action": self.act_dim}
        dims["next_obs"] = dims["obs"]
        keep, start = [], 0
        for name in self.config["inputs"]:
            if not (name == "action" and self.discrete_n):
                keep += range(start, start + dims[name])
            start += dims[name]
        return th.tensor(keep, dtype=th.long, device=self.device)

    def numpy_features(
        self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray
    ) -> np.ndarray:
        """:meth:`features` built in numpy (one tensor conversion per batch: the fast path of
        :meth:`predict`, which env wrappers call every step)."""
        obs, actions, next_obs = np.asarray(obs), np.asarray(actions), np.asarray(next_obs)
        self._check_batch(obs.shape, actions.shape, next_obs.shape)
        batch = obs.shape[0]
        parts = []
        for name in self.config["inputs"]:
            if name == "action":
                if self.discrete_n:
                    idx = actions.reshape(batch, -1)[:, 0].astype(np.int64)
                    parts.append(np.eye(self.discrete_n, dtype=np.float32)[idx])
                else:
                    parts.append(actions.reshape(batch, -1))
            else:
                parts.append((obs if name == "obs" else next_obs).reshape(batch, -1))
        return np.concatenate(parts, axis=1, dtype=np.float32)

    def head(self, features: th.Tensor) -> th.Tensor:
        """Normalised rewards from :meth:`features`, shape ``(batch,)``."""
        return (self.net(features).squeeze(-1) - self.offset) / self.scale

    def forward(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        """Normalised rewards, shape ``(batch,)``; ``actions``: ``(batch, *act_shape)``, or
        ``(batch,)`` integer indices for ``Discrete``."""
        return self.head(self.features(obs, actions, next_obs))

    def serving(self) -> _EvalMode:
        """A context with the MLP in eval mode: no spectral-norm power iteration, the
        weights as served.

        Example:
            >>> import gymnasium as gym
            >>> net = RewardNet(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (1,)),
            ...                 spectral_norm=True)
            >>> with net.serving():
            ...     print(net.net.training)
            False
            >>> net.net.training
            True
        """
        return _EvalMode(self.net)

    @th.no_grad()
    def normalize_on(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor) -> None:
        """Set offset and scale so the rewards of these transitions have mean 0, std 1."""
        self.offset.zero_()
        self.scale.fill_(1.0)
        with self.serving():
            raw = self.forward(obs, actions, next_obs)
        self.offset.copy_(raw.mean())
        self.scale.copy_(raw.std(correction=0).clamp_min(1e-8))

    def numpy_head(self, features: np.ndarray) -> np.ndarray:
        """:meth:`head` on a CPU net evaluated in numpy, shape ``(batch,)``.

        Why: a per-step env wrapper runs this MLP on a few dozen rows, where torch's
        per-op dispatch costs more than the arithmetic; numpy on a cached copy of the
        weights is several times faster. The cache is keyed on each parameter's identity
        and in-place version counter, so optimiser steps and ``load_state_dict`` refresh it.
        """
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        # parameters and buffers (spectral norm's singular vectors) decide the weights
        tensors = [*self.net.parameters(), *self.net.buffers(), self.offset, self.scale]
        key = tuple((id(t), t._version) for t in tensors)
        if self._numpy_cache is None or self._numpy_cache[0] != key:
            with th.no_grad(), self.serving():  # the effective (eval-mode) weights
                weights = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
            biases = [m.bias.detach().cpu().numpy().copy() for m in linears]
            offset, scale = self.offset.item(), self.scale.item()
            # weights transposed to (in, out); the output normalisation folded into the last
            # layer: ((x W + b) - offset) / scale = x (W / scale) + (b - offset) / scale
            weights[-1] = weights[-1] / scale
            biases[-1] = (biases[-1] - offset) / scale
            self._numpy_cache = (key, list(zip(weights, biases, strict=True)))
        layers = self._numpy_cache[1]
        x = features
        activation = self.config["activation"]
        for w, b in layers[:-1]:
            x = x @ w
            x += b
            if activation == "relu":
                np.maximum(x, 0.0, out=x)
            elif activation == "tanh":
                np.tanh(x, out=x)
            else:
                x = np.where(x > 0, x, 0.01 * x)  # nn.LeakyReLU's default slope
        w, b = layers[-1]
        return x @ w[:, 0] + b[0]

    @th.inference_mode()
    def predict(
        self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards and spread (zeros: one net has none), numpy in and out, shape (batch,)."""
        x = self.numpy_features(obs, actions, next_obs)
        if self.device.type == "cpu":
            r = self.numpy_head(x).astype(np.float32)
        else:
            with self.serving():
                r = self.head(th.from_numpy(x).to(self.device)).cpu().numpy().astype(np.float32)
        return r, np.zeros_like(r)


class _EvalMode:
    """Puts a module in eval mode for a ``with`` block, then restores its mode."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.was_training = module, module.training

    def __enter__(self) -> nn.Module:
        self.was_training = self.module.training
        return self.module.eval()

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)


def build_reward_net(config: dict[str, Any], device: th.device | str = "cpu") -> RewardNet:
    """A fresh :class:`RewardNet` from :attr:`RewardNet.config` (files written before
    ``spectral_norm`` existed have no such key: plain nets)."""
    return RewardNet(
        space_from_json(config["observation_space"]), space_from_json(config["action_space"]),
        config["hidden"], config["inputs"], config["activation"],
        spectral_norm=config.get("spectral_norm", False), device=device,
    )  # fmt: skip


def save_tensors(path: str | Path, tensors: dict[str, th.Tensor], header: dict) -> None:
    """Write tensors and a JSON header as one safetensors file, atomically."""
    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    blob = safetensors_save(data, metadata={HEADER_KEY: json.dumps(header)})
    atomic_write_bytes(Path(path), blob)


def load_tensors(path: str | Path) -> tuple[dict[str, th.Tensor], dict]:
    """Read a file written by :func:`save_tensors` (no unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no reward model file at {str(path)!r}")
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open API)
    if HEADER_KEY not in metadata:
        raise ValueError(f"{str(path)!r} was not written by advrl's reward-model savers")
    return tensors, json.loads(metadata[HEADER_KEY])


def save_reward_model(model: RewardNet, path: str | Path) -> None:
    """Save weights and architecture (weights only: safetensors + JSON header).

    Example:
        >>> import gymnasium as gym, tempfile, os
        >>> net = RewardNet(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2,)))
        >>> path = os.path.join(tempfile.mkdtemp(), "rm.safetensors")
        >>> save_reward_model(net, path)
        >>> load_reward_model(path).config == net.config
        True
    """
    if not isinstance(model, RewardNet):
        raise TypeError(f"expected a RewardNet, got {type(model).__name__}")
    save_tensors(path, model.state_dict(), {"kind": "net", "config": model.config})


def load_reward_model(path: str | Path, device: th.device | str = "cpu") -> RewardNet:
    """Inverse of :func:`save_reward_model`."""
    tensors, header = load_tensors(path)
    if header.get("kind") != "net":
        raise ValueError(f"{str(path)!r} holds a {header.get('kind')!r}, not a single net")
    net = build_reward_net(header["config"], device)
    net.load_state_dict(tensors)
    return net
