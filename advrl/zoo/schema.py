"""What a zoo checkpoint's header may say: the schema, its bounds, and the env-id policy.

A checkpoint may come from anywhere, so its header (``metadata["advrl"]``, JSON) may hold
only these fields, each type-checked and bounded before anything is built from it:

- ``algo``: one of :data:`ALGORITHMS`.
- ``env_id``: a registered Gymnasium id without a module prefix (a ``"module:Env-v0"`` id
  would make ``gym.make`` import ``module``), or one of the caller's ``allowed_env_ids``.
- ``env_kwargs``: at most :data:`MAX_ENV_KWARGS` arguments, each null, a bool, an int in
  +-:data:`MAX_INT`, a finite float, or a short name (letters, digits, ``_`` and ``-``, joined
  by ``.`` or ``/``): no file paths, no ``module:`` prefixes, no nested objects.
- ``policy_kwargs``: ``net_arch`` (a list, or a dict of ``pi``/``vf``/``qf`` lists, of at most
  :data:`MAX_LAYERS` widths in 1..:data:`MAX_WIDTH`), ``activation_fn`` (a name in
  :data:`ACTIVATIONS`, never an import path), ``ortho_init`` and ``share_features_extractor``
  (bools), ``log_std_init`` (in [-20, 20]), ``n_critics`` (1..10).
- ``clip_obs`` and ``epsilon`` (finite, > 0): present exactly when the file holds the tensors
  ``obs_rms.mean`` and ``obs_rms.var``.

The tensors may only be ``policy.*`` (float) and those two statistics (F32/F64), at most
:data:`MAX_PARAMETERS` numbers in all.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

import gymnasium as gym
import torch as th

ALGORITHMS: tuple[str, ...] = ("A2C", "DQN", "PPO", "SAC", "TD3")
ACTIVATIONS: dict[str, type[th.nn.Module]] = {
    "tanh": th.nn.Tanh,
    "relu": th.nn.ReLU,
    "elu": th.nn.ELU,
    "leaky_relu": th.nn.LeakyReLU,
}
# Bounds for untrusted files; the shipped policies are 64x64 MLPs of < 50k parameters.
MAX_PARAMETERS = 8_000_000
MAX_LAYERS = 8
MAX_WIDTH = 1024
MAX_ENV_KWARGS = 32
MAX_INT = 10**6  # env kwargs such as frame_stack size arrays
MAX_NAME_CHARS = 128

_HEADER_FIELDS = ("algo", "env_id", "env_kwargs", "policy_kwargs", "clip_obs", "epsilon")
_POLICY_FIELDS = (
    "net_arch", "activation_fn", "ortho_init", "share_features_extractor", "log_std_init",
    "n_critics",
)  # fmt: skip
STATS_TENSORS = ("obs_rms.mean", "obs_rms.var")
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
# Registered, but they wrap an env *named by a kwarg* through old gym, which imports
# "module:Env" ids: no checkpoint may reach them.
_SHIM_IDS = frozenset({"GymV21Environment-v0", "GymV26Environment-v0"})
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:[./][A-Za-z0-9_-]+)*")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not describe a model advrl can build."""


def policy_kwargs_to_json(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Replace activation classes by their names so the kwargs fit in a JSON header."""
    out = dict(policy_kwargs)
    if "activation_fn" in out:
        names = {cls: name for name, cls in ACTIVATIONS.items()}
        if out["activation_fn"] not in names:
            raise ValueError(
                f"activation_fn {out['activation_fn']!r} cannot be saved; allowed: "
                f"{[cls.__name__ for cls in names]}"
            )
        out["activation_fn"] = names[out["activation_fn"]]
    return out


def policy_kwargs_from_json(policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map activation names back to classes (names only: never an import path)."""
    out = dict(policy_kwargs)
    if "activation_fn" in out:
        name = out["activation_fn"]
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise ValueError(f"activation_fn {name!r} is not allowed; allowed: {list(ACTIVATIONS)}")
        out["activation_fn"] = ACTIVATIONS[name]
    return out


def check_env_id(env_id: Any, allowed_env_ids: Collection[str] | None = None) -> str:
    """``env_id`` if a checkpoint may name it: registered, no module prefix, or allow-listed."""
    if not isinstance(env_id, str) or not 0 < len(env_id) <= MAX_NAME_CHARS:
        raise CheckpointError(f"env_id {env_id!r} must be a non-empty string of at most 128 chars")
    if isinstance(allowed_env_ids, str):  # "in" would test substrings
        raise TypeError(f"allowed_env_ids must be a collection of ids, got {allowed_env_ids!r}")
    if allowed_env_ids is not None:
        if env_id not in allowed_env_ids:
            raise CheckpointError(
                f"env_id {env_id!r} is not in allowed_env_ids {sorted(allowed_env_ids)}"
            )
        return env_id
    if ":" in env_id:
        raise CheckpointError(
            f"env_id {env_id!r} has a module prefix: gym.make would import that module; only "
            "registered ids are accepted (pass allowed_env_ids= to trust others)"
        )
    if env_id not in gym.registry or env_id in _SHIM_IDS:
        raise CheckpointError(
            f"env_id {env_id!r} is not a registered Gymnasium id a checkpoint may use "
            "(import the package that registers it, or pass allowed_env_ids=)"
        )
    return env_id


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity and duplicate keys (last-one-wins hides data)."""

    def constant(name: str) -> None:
        raise CheckpointError(f"{name} is not allowed: numbers must be finite")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise CheckpointError(f"duplicate key {key!r}")
            out[key] = value
        return out

    return json.loads(text, parse_constant=constant, object_pairs_hook=unique)


def _check_keys(obj: Any, what: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()):
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} must be a JSON object, got {type(obj).__name__}")
    for key in obj:
        if key not in allowed:
            raise CheckpointError(f"unknown key {key!r} in {what}; allowed: {list(allowed)}")
    for key in required:
        if key not in obj:
            raise CheckpointError(f"{what} is missing {key!r}")


def _number(value: Any, name: str, low: float, high: float, low_open: bool = False) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    in_range = is_number and math.isfinite(value) and low <= value <= high
    if not in_range or (low_open and value == low):
        above = f"> {low}" if low_open else f">= {low}"
        bound = above if high == math.inf else f"{above} and <= {high}"
        raise CheckpointError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _int(value: Any, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise CheckpointError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def validate_header(header: Any, allowed_env_ids: Collection[str] | None) -> dict[str, Any]:
    """The Checkpoint fields a header describes, every one checked."""
    _check_keys(header, "the header", _HEADER_FIELDS, required=("algo", "env_id", "policy_kwargs"))
    if header["algo"] not in ALGORITHMS:
        raise CheckpointError(
            f"algo {header['algo']!r} is not allowed; allowed: {list(ALGORITHMS)}"
        )
    for name in ("clip_obs", "epsilon"):
        if name in header:
            _number(header[name], name, 0.0, math.inf, low_open=True)
    return {
        "algo": header["algo"],
        "env_id": check_env_id(header["env_id"], allowed_env_ids),
        "env_kwargs": _validate_env_kwargs(header.get("env_kwargs", {})),
        "policy_kwargs": _validate_policy_kwargs(header["policy_kwargs"]),
    }


def _validate_env_kwargs(kwargs: Any) -> dict[str, Any]:
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"env_kwargs must be a JSON object, got {type(kwargs).__name__}")
    if len(kwargs) > MAX_ENV_KWARGS:
        raise CheckpointError(f"env_kwargs has {len(kwargs)} entries; at most {MAX_ENV_KWARGS}")
    for key, value in kwargs.items():
        name = f"env_kwargs[{key!r}]"
        if not key.isidentifier():
            raise CheckpointError(f"env_kwargs key {key!r} is not a Python identifier")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            _int(value, name, -MAX_INT, MAX_INT)
        elif isinstance(value, float):
            _number(value, name, -math.inf, math.inf)
        elif not (isinstance(value, str) and _is_name(value)):
            raise CheckpointError(
                f"{name} = {value!r} is not allowed: env_kwargs values are null, bools, "
                "numbers or short names (letters, digits, _ and -, joined by . or /)"
            )
    return dict(kwargs)


def _is_name(text: str) -> bool:
    return len(text) <= MAX_NAME_CHARS and _NAME.fullmatch(text) is not None


def _validate_policy_kwargs(kwargs: Any) -> dict[str, Any]:
    _check_keys(kwargs, "policy_kwargs", _POLICY_FIELDS)
    if "net_arch" in kwargs:
        arch = kwargs["net_arch"]
        if isinstance(arch, dict):
            _check_keys(arch, "policy_kwargs.net_arch", ("pi", "vf", "qf"))
            for part, layers in arch.items():
                _check_layers(layers, f"policy_kwargs.net_arch[{part!r}]")
        else:
            _check_layers(arch, "policy_kwargs.net_arch")
    for flag in ("ortho_init", "share_features_extractor"):
        if flag in kwargs and not isinstance(kwargs[flag], bool):
            raise CheckpointError(f"policy_kwargs.{flag} must be a bool, got {kwargs[flag]!r}")
    if "log_std_init" in kwargs:
        _number(kwargs["log_std_init"], "policy_kwargs.log_std_init", -20.0, 20.0)
    if "n_critics" in kwargs:
        _int(kwargs["n_critics"], "policy_kwargs.n_critics", 1, 10)
    try:
        return policy_kwargs_from_json(kwargs)
    except ValueError as err:
        raise CheckpointError(f"policy_kwargs.{err}") from None


def _check_layers(layers: Any, name: str) -> None:
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise CheckpointError(
            f"{name} must be a list of at most {MAX_LAYERS} widths, got {layers!r:.60}"
        )
    for width in layers:
        _int(width, f"{name} width", 1, MAX_WIDTH)


def check_tensor_table(table: dict[str, tuple[tuple[int, ...], str]], header: dict) -> None:
    """Names, dtypes and total size of the tensors, from the header only (no data read)."""
    total = 0
    for name, (shape, dtype) in table.items():
        if name in STATS_TENSORS:
            allowed = ("F32", "F64")
        elif name.startswith("policy."):
            allowed = _FLOAT_DTYPES
        else:
            raise CheckpointError(
                f"unexpected tensor {name!r}: a zoo checkpoint holds 'policy.*', "
                "'obs_rms.mean' and 'obs_rms.var' only"
            )
        if dtype not in allowed:
            raise CheckpointError(f"tensor {name!r} has dtype {dtype}; allowed: {list(allowed)}")
        total += math.prod(shape)
    if total > MAX_PARAMETERS:
        raise CheckpointError(f"the tensors hold {total} parameters; at most {MAX_PARAMETERS}")
    stats = [n for n in STATS_TENSORS if n in table]
    fields = [n for n in ("clip_obs", "epsilon") if n in header]
    if len(stats) == 1:
        raise CheckpointError(f"{stats[0]!r} comes without its partner; the file needs both")
    if stats and table["obs_rms.mean"][0] != table["obs_rms.var"][0]:
        shapes = {n: table[n][0] for n in stats}
        raise CheckpointError(f"obs_rms.mean and obs_rms.var must have one shape, got {shapes}")
    if stats and len(fields) < 2:
        raise CheckpointError("the file holds obs_rms tensors; the header lacks clip_obs/epsilon")
    if fields and not stats:
        raise CheckpointError(f"the header gives {fields} but the file holds no obs_rms tensors")
