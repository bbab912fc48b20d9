"""Weights-only checkpoints for small SB3 policies, loaded as untrusted input.

A zoo checkpoint is one ``.safetensors`` file: the policy's tensors, the observation
normaliser's running statistics, and a JSON header (``metadata["advrl"]``) that says how to
rebuild the model. Nothing is unpickled on load and nothing in the file is trusted: the file
and safetensors' 8-byte header length are bounded before anything is parsed, the header must
follow the schema of :mod:`advrl.zoo.schema` (registered env ids only, bounded sizes, finite
statistics), and :func:`advrl.zoo.build_model` checks every tensor shape against the declared
architecture before it allocates a model.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from advrl.zoo.schema import (
    ACTIVATIONS,
    ALGORITHMS,
    CheckpointError,
    check_env_id,
    check_tensor_table,
    policy_kwargs_from_json,
    policy_kwargs_to_json,
    strict_json,
    validate_header,
)

__all__ = [
    "ACTIVATIONS",
    "ALGORITHMS",
    "Checkpoint",
    "CheckpointError",
    "ObsStats",
    "atomic_write_bytes",
    "check_env_id",
    "load_checkpoint",
    "policy_kwargs_from_json",
    "policy_kwargs_to_json",
    "read_card",
    "save_checkpoint",
]

MAX_FILE_BYTES = 64 * 2**20  # the shipped checkpoints are < 200 kB
MAX_HEADER_BYTES = 2**20  # safetensors' JSON header (tensor table + metadata); shipped: 1.6 kB
MAX_CARD_BYTES = 2**20

_HEADER_KEY = "advrl"
_METADATA_KEYS = (_HEADER_KEY, "format")  # "format" is what other safetensors writers add


@dataclass(frozen=True)
class ObsStats:
    """Frozen observation-normalisation statistics (SB3 ``VecNormalize`` semantics).

    ``normalize(x) = clip((x - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``.

    Raises:
        ValueError: mean and var differ in shape, are not finite, a variance is negative,
            ``clip_obs <= 0`` or ``epsilon`` is not a finite number > 0.
    """

    mean: np.ndarray
    var: np.ndarray
    clip_obs: float = 10.0
    epsilon: float = 1e-8

    @classmethod
    def from_vec_normalize(cls, venv: Any) -> ObsStats:
        """The statistics an SB3 ``VecNormalize`` normalises observations with, copied."""
        return cls(mean=np.array(venv.obs_rms.mean), var=np.array(venv.obs_rms.var),
                   clip_obs=float(venv.clip_obs), epsilon=float(venv.epsilon))  # fmt: skip

    def __post_init__(self) -> None:
        mean, var = np.asarray(self.mean), np.asarray(self.var)
        if mean.shape != var.shape:
            raise ValueError(f"ObsStats mean {mean.shape} and var {var.shape} differ in shape")
        if not np.isfinite(mean).all():
            raise ValueError("ObsStats.mean must be finite")
        if not (np.isfinite(var).all() and (var >= 0).all()):
            raise ValueError("ObsStats.var must be finite and >= 0")
        if not self.clip_obs > 0:  # inf is VecNormalize's "no clipping"
            raise ValueError(f"ObsStats.clip_obs must be > 0, got {self.clip_obs!r}")
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ValueError(f"ObsStats.epsilon must be a finite number > 0, got {self.epsilon!r}")


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds: enough to rebuild an SB3 model without unpickling."""

    algo: str
    env_id: str
    policy_kwargs: dict[str, Any]
    state_dict: dict[str, th.Tensor]
    obs_stats: ObsStats | None
    env_kwargs: dict[str, Any]


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
        if not math.isfinite(obs_stats.clip_obs):
            raise ValueError(f"clip_obs must be finite to be saved, got {obs_stats.clip_obs!r}")
        tensors["obs_rms.mean"] = th.as_tensor(obs_stats.mean, dtype=th.float64)
        tensors["obs_rms.var"] = th.as_tensor(obs_stats.var, dtype=th.float64)
        header["clip_obs"] = float(obs_stats.clip_obs)
        header["epsilon"] = float(obs_stats.epsilon)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={_HEADER_KEY: json.dumps(header)})
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, allowed_env_ids: Collection[str] | None = None) -> Checkpoint:
    """Read and validate a checkpoint written by :func:`save_checkpoint` (see module docs).

    Args:
        path: the ``.safetensors`` file, of any origin.
        allowed_env_ids: env ids to accept instead of every registered one.

    Raises:
        CheckpointError: the file is missing, corrupt, too large, or a header field or tensor
            is not allowed (the message names it).
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise CheckpointError(f"{where} does not exist")
    _check_sizes(path, where)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = _parse_header(f.metadata() or {}, where)
            slices = {k: f.get_slice(k) for k in f.keys()}  # noqa: SIM118  # not a dict
            table = {k: (tuple(s.get_shape()), s.get_dtype()) for k, s in slices.items()}
            try:
                fields = validate_header(header, allowed_env_ids)
                check_tensor_table(table, header)  # before any tensor data is read
                tensors = {k: f.get_tensor(k) for k in table}
                obs_stats = _obs_stats(tensors, header)
            except CheckpointError as err:
                raise CheckpointError(f"{where}: {err}") from None
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{where} is corrupt or not a safetensors file: {err}") from err
    state = {k.removeprefix("policy."): v for k, v in tensors.items() if k.startswith("policy.")}
    return Checkpoint(state_dict=state, obs_stats=obs_stats, **fields)


def read_card(path: str | Path) -> dict[str, Any]:
    """The JSON card beside a checkpoint (``{}`` when there is none), size-bounded."""
    path = Path(path)
    if not path.is_file():
        return {}
    size = path.stat().st_size
    if size > MAX_CARD_BYTES:
        raise CheckpointError(f"card {str(path)!r} has {size} bytes; at most {MAX_CARD_BYTES}")
    try:
        card = strict_json(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(f"card {str(path)!r} is not valid JSON: {err}") from err
    if not isinstance(card, dict):
        kind = type(card).__name__
        raise CheckpointError(f"card {str(path)!r} must be a JSON object, got {kind}")
    return card


def _check_sizes(path: Path, where: str) -> None:
    """Bound the file and safetensors' 8-byte header length before anything parses them."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CheckpointError(f"{where} has {size} bytes; at most {MAX_FILE_BYTES} are accepted")
    with path.open("rb") as f:
        prefix = f.read(8)
    if len(prefix) < 8:
        raise CheckpointError(f"{where} is corrupt or not a safetensors file: {size} bytes")
    n = int.from_bytes(prefix, "little")
    if n > min(MAX_HEADER_BYTES, size - 8):
        raise CheckpointError(
            f"{where} is corrupt or not a safetensors file: it declares a header of {n} bytes; "
            f"at most {MAX_HEADER_BYTES} are accepted and the file holds {size - 8}"
        )


def _parse_header(metadata: dict[str, str], where: str) -> Any:
    for key in metadata:
        if key not in _METADATA_KEYS:
            raise CheckpointError(
                f"{where}: unknown metadata key {key!r}; allowed: {list(_METADATA_KEYS)}"
            )
    if _HEADER_KEY not in metadata:
        raise CheckpointError(
            f"{where} has no {_HEADER_KEY!r} header; "
            "it was not written by advrl.zoo.save_checkpoint"
        )
    try:
        return strict_json(metadata[_HEADER_KEY])
    except CheckpointError as err:
        raise CheckpointError(f"{where}: {err}") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"{where}: the {_HEADER_KEY!r} header is not valid JSON: {err}"
        ) from None


def _obs_stats(tensors: dict[str, th.Tensor], header: dict[str, Any]) -> ObsStats | None:
    for name, tensor in tensors.items():
        if not th.isfinite(tensor).all():
            raise CheckpointError(f"tensor {name!r} holds non-finite values")
    if "obs_rms.mean" not in tensors:
        return None
    var = tensors["obs_rms.var"]
    if (var < 0).any():
        raise CheckpointError(f"tensor 'obs_rms.var' holds negative variances (min {var.min()})")
    return ObsStats(
        mean=tensors["obs_rms.mean"].numpy(),
        var=var.numpy(),
        clip_obs=float(header["clip_obs"]),
        epsilon=float(header["epsilon"]),
    )


def stack_versions() -> dict[str, str]:
    """The library versions a card records with a trained file (MuJoCo's physics rounding
    differs by release, so results are tied to it)."""
    import importlib.metadata
    import platform

    import gymnasium as gym
    import stable_baselines3

    return {"python": platform.python_version(), "torch": th.__version__,
            "stable_baselines3": stable_baselines3.__version__, "gymnasium": gym.__version__,
            "mujoco": importlib.metadata.version("mujoco")}  # fmt: skip
