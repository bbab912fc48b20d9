"""Weights-only checkpoints for small SB3 policies.

A zoo checkpoint is one ``.safetensors`` file: the policy's tensors, the observation
normaliser's running statistics, and a JSON header that says how to rebuild the model
(algorithm, env id, policy kwargs). Nothing is unpickled on load, so a checkpoint can be
read safely whatever its origin; only the tensors the header names are used.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

_ACTIVATIONS: dict[str, type[th.nn.Module]] = {
    "tanh": th.nn.Tanh,
    "relu": th.nn.ReLU,
    "elu": th.nn.ELU,
    "leaky_relu": th.nn.LeakyReLU,
}
_HEADER_KEY = "advrl"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not describe a model advrl can build."""


@dataclass(frozen=True)
class ObsStats:
    """Frozen observation-normalisation statistics (SB3 ``VecNormalize`` semantics).

    ``normalize(x) = clip((x - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``.
    """

    mean: np.ndarray
    var: np.ndarray
    clip_obs: float = 10.0
    epsilon: float = 1e-8


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds: enough to rebuild an SB3 model without unpickling."""

    algo: str
    env_id: str
    policy_kwargs: dict[str, Any]
    state_dict: dict[str, th.Tensor]
    obs_stats: ObsStats | None
    env_kwargs: dict[str, Any]


def policy_kwargs_to_json(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Replace activation classes by their names so the kwargs fit in a JSON header."""
    out = dict(policy_kwargs)
    if "activation_fn" in out:
        names = {cls: name for name, cls in _ACTIVATIONS.items()}
        out["activation_fn"] = names[out["activation_fn"]]
    return out


def policy_kwargs_from_json(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(policy_kwargs)
    if "activation_fn" in out:
        out["activation_fn"] = _ACTIVATIONS[out["activation_fn"]]
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | Path,
    *,
    algo: str,
    env_id: str,
    policy: th.nn.Module,
    policy_kwargs: dict[str, Any],
    obs_stats: ObsStats | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> None:
    """Save a policy's weights (no optimiser state) and its normaliser as safetensors."""
    tensors = {f"policy.{k}": v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
    header: dict[str, Any] = {
        "algo": algo,
        "env_id": env_id,
        "env_kwargs": env_kwargs or {},
        "policy_kwargs": policy_kwargs_to_json(policy_kwargs),
    }
    if obs_stats is not None:
        tensors["obs_rms.mean"] = th.as_tensor(obs_stats.mean, dtype=th.float64)
        tensors["obs_rms.var"] = th.as_tensor(obs_stats.var, dtype=th.float64)
        header["clip_obs"] = obs_stats.clip_obs
        header["epsilon"] = obs_stats.epsilon
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={_HEADER_KEY: json.dumps(header)})
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: the file is missing, not a safetensors file, or lacks the header.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not a safetensors file: {err}"
        ) from err
    if _HEADER_KEY not in metadata:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has no {_HEADER_KEY!r} header; "
            "it was not written by advrl.zoo.save_checkpoint"
        )
    try:
        header = json.loads(metadata[_HEADER_KEY])
        policy_kwargs = policy_kwargs_from_json(header["policy_kwargs"])
        obs_stats = None
        if "obs_rms.mean" in tensors:
            obs_stats = ObsStats(
                mean=tensors["obs_rms.mean"].numpy(),
                var=tensors["obs_rms.var"].numpy(),
                clip_obs=float(header["clip_obs"]),
                epsilon=float(header["epsilon"]),
            )
        state = {
            k.removeprefix("policy."): v for k, v in tensors.items() if k.startswith("policy.")
        }
        return Checkpoint(
            algo=header["algo"],
            env_id=header["env_id"],
            policy_kwargs=policy_kwargs,
            state_dict=state,
            obs_stats=obs_stats,
            env_kwargs=header.get("env_kwargs", {}),
        )
    except (KeyError, json.JSONDecodeError, TypeError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} has a malformed header: {err!r}") from err
