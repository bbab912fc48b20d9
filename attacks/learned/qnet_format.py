"""The Robust Sarsa critic ``Q(s, a)`` and its weights-only file format.

A critic file is one ``.safetensors`` file holding the MLP's float32 tensors (``q.<i>.weight``,
``q.<i>.bias``) and a JSON header (``metadata["advrl"]``) that says what the critic attacks
and how to rebuild it. The file may come from anywhere, so, as for zoo checkpoints
(:mod:`advrl.zoo.checkpoint`), nothing is unpickled and nothing is trusted: the file and
safetensors' header length are bounded before parsing, the header may hold only these
fields, each type-checked and bounded, and the tensor table must be exactly the one the
header's architecture implies before any tensor data is read:

- ``kind``: ``"rs"``.
- ``victim``: the victim's name, printable, at most :data:`MAX_VICTIM_CHARS` characters
  (only compared and shown, never opened); ``victim_digest``: 16 lowercase hex digits (see
  :mod:`advrl.attacks.learned.victims`).
- ``eps`` (finite, > 0) and ``norm`` (``"linf"`` / ``"l2"``): the budget it was trained for.
- ``obs_dim`` and ``act_dim``: integers in 1..:data:`MAX_INPUT`.
- ``hidden``: at most :data:`~advrl.zoo.schema.MAX_LAYERS` widths in
  1..:data:`~advrl.zoo.schema.MAX_WIDTH` (an empty list is a linear critic);
  ``activation``: a name in :data:`~advrl.zoo.schema.ACTIVATIONS`, never an import path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch as th
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from advrl.attacks.balls import NORMS
from advrl.zoo.checkpoint import _check_sizes, atomic_write_bytes
from advrl.zoo.schema import (
    ACTIVATIONS,
    MAX_LAYERS,
    MAX_WIDTH,
    CheckpointError,
    _check_keys,
    _check_layers,
    _int,
    _number,
    strict_json,
)

KINDS = ("rs",)
MAX_INPUT = 4096
"""Largest observation or action size a critic file may declare."""
MAX_VICTIM_CHARS = 256
HEADER_KEY = "advrl"
_FIELDS = ("kind", "victim", "victim_digest", "eps", "norm", "obs_dim", "act_dim", "hidden",
           "activation")  # fmt: skip
_DIGEST = re.compile(r"[0-9a-f]{16}")


class QNetwork(th.nn.Module):
    """An MLP ``Q(s, a)`` on ``concat(flat normalised obs, action)`` (the reference's
    ``ValueDenseNet(obs_dim + act_dim)``: 64x64 tanh by default).

    Example:
        >>> q = QNetwork(3, 2, hidden=(8,))
        >>> q(th.zeros(5, 3), th.zeros(5, 2)).shape
        torch.Size([5])
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64), activation: str = "tanh"
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; allowed: {list(ACTIVATIONS)}")
        hidden = list(hidden)
        if len(hidden) > MAX_LAYERS or not all(_is_width(h, MAX_WIDTH) for h in hidden):
            raise ValueError(
                f"hidden must be at most {MAX_LAYERS} integer widths in 1..{MAX_WIDTH}, got "
                f"{hidden!r:.60}"
            )
        if not (_is_width(obs_dim, MAX_INPUT) and _is_width(act_dim, MAX_INPUT)):
            raise ValueError(
                f"obs_dim and act_dim must be integers in 1..{MAX_INPUT}, got {obs_dim!r}, "
                f"{act_dim!r}"
            )
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.hidden, self.activation = tuple(int(h) for h in hidden), activation
        layers: list[th.nn.Module] = []
        width = self.obs_dim + self.act_dim
        for h in self.hidden:
            layers += [th.nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(th.nn.Linear(width, 1))
        self.q = th.nn.Sequential(*layers)

    def inputs(self, obs: th.Tensor, action: th.Tensor) -> th.Tensor:
        """The network input ``concat(obs, action)``, shape (batch, obs_dim + act_dim)."""
        return th.cat((obs.reshape(obs.shape[0], -1), action), dim=-1)

    def forward(self, obs: th.Tensor, action: th.Tensor) -> th.Tensor:
        """``Q(obs, action)``, shape (batch,)."""
        return self.q(self.inputs(obs, action)).squeeze(-1)

    def header(self) -> dict[str, Any]:
        """The architecture fields of a critic file's header."""
        return dict(obs_dim=self.obs_dim, act_dim=self.act_dim, hidden=list(self.hidden),
                    activation=self.activation)  # fmt: skip


def _is_width(value: Any, largest: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= largest


def _tensor_table(header: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """The exact tensors (name -> shape, dtype) the header's architecture implies."""
    widths = [header["obs_dim"] + header["act_dim"], *header["hidden"], 1]
    table = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        table[f"q.{2 * i}.weight"] = ((n_out, n_in), "F32")
        table[f"q.{2 * i}.bias"] = ((n_out,), "F32")
    return table


def validate_header(header: Any) -> dict[str, Any]:
    """The header's fields, every one checked (see the module docs).

    Raises:
        CheckpointError: naming the field, its value and what is allowed.
    """
    _check_keys(header, "the critic header", _FIELDS, required=_FIELDS)
    if header["kind"] not in KINDS:
        raise CheckpointError(f"kind {header['kind']!r} is not allowed; allowed: {list(KINDS)}")
    victim = header["victim"]
    if not (isinstance(victim, str) and 0 < len(victim) <= MAX_VICTIM_CHARS and
            victim.isprintable()):  # fmt: skip
        raise CheckpointError(
            f"victim must be a printable name of 1..{MAX_VICTIM_CHARS} chars, got {victim!r:.80}"
        )
    digest = header["victim_digest"]
    if not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
        raise CheckpointError(f"victim_digest must be 16 lowercase hex digits, got {digest!r:.40}")
    _number(header["eps"], "eps", 0.0, 1e30, low_open=True)
    if header["norm"] not in NORMS:
        raise CheckpointError(f"norm {header['norm']!r} is not allowed; allowed: {list(NORMS)}")
    for name in ("obs_dim", "act_dim"):
        _int(header[name], name, 1, MAX_INPUT)
    _check_layers(header["hidden"], "hidden")
    if not isinstance(header["activation"], str) or header["activation"] not in ACTIVATIONS:
        raise CheckpointError(
            f"activation {header['activation']!r:.40} is not allowed; allowed: {list(ACTIVATIONS)}"
        )
    return dict(header, eps=float(header["eps"]))


def save_qnet(path: str | Path, q_net: QNetwork, trained_for: dict[str, Any]) -> Path:
    """Write ``q_net``'s weights and a header (``trained_for``: kind, victim, victim_digest,
    eps, norm) atomically; the header is validated first, so a saved file always loads."""
    header = validate_header({**trained_for, **q_net.header()})
    tensors = {f"q.{k}": v.detach().to("cpu", th.float32).contiguous()
               for k, v in q_net.q.state_dict().items()}  # fmt: skip
    path = Path(path)
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata={HEADER_KEY: json.dumps(header)}))
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    """The validated header of a critic file, reading no tensor data (a cheap check)."""
    header, _ = _read(Path(path), tensors=False)
    return header


def load_qnet(path: str | Path, device: str = "cpu") -> tuple[QNetwork, dict[str, Any]]:
    """The critic and its validated header.

    Raises:
        CheckpointError: missing, corrupt or oversized file; a header field or a tensor that
            is not allowed, missing, or of the wrong shape; non-finite weights.
    """
    header, tensors = _read(Path(path), tensors=True)
    q_net = QNetwork(header["obs_dim"], header["act_dim"], header["hidden"], header["activation"])
    q_net.q.load_state_dict({k.removeprefix("q."): v for k, v in tensors.items()}, strict=True)
    return q_net.to(device).eval(), header


def _table_mismatch(found: dict, expected: dict) -> str:
    """Which tensors differ from the declared architecture (a few of each, not all)."""
    parts = []
    for what, names in (("unexpected", found.keys() - expected.keys()),
                        ("missing", expected.keys() - found.keys())):  # fmt: skip
        if names:
            parts.append(f"{what} tensors {sorted(names)[:5]}")
    common = sorted(found.keys() & expected.keys())
    wrong = [f"{k} {found[k]} (declared {expected[k]})" for k in common if found[k] != expected[k]]
    if wrong:
        parts.append(f"wrong shape or dtype: {wrong[:5]}")
    return "its tensors do not fit the architecture its header declares: " + "; ".join(parts)


def _read(path: Path, tensors: bool) -> tuple[dict[str, Any], dict[str, th.Tensor]]:
    where = f"critic {str(path)!r}"
    if not path.is_file():
        raise CheckpointError(f"{where} does not exist")
    _check_sizes(path, where)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            extra = sorted(set(metadata) - {HEADER_KEY, "format"})
            if extra or HEADER_KEY not in metadata:
                raise CheckpointError(
                    f"{where}: metadata keys {sorted(metadata)}; it needs {HEADER_KEY!r} and "
                    "may add 'format' only"
                )
            header = validate_header(strict_json(metadata[HEADER_KEY]))
            found = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
                     for k in f.keys()}  # noqa: SIM118  # fmt: skip
            expected = _tensor_table(header)
            if found != expected:
                raise CheckpointError(_table_mismatch(found, expected))
            if not tensors:
                return header, {}
            data = {k: f.get_tensor(k) for k in expected}
    except CheckpointError as err:
        message = str(err)
        raise CheckpointError(
            message if message.startswith(where) else f"{where}: {message}"
        ) from None
    except (SafetensorError, OSError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{where} is corrupt or not a safetensors file: {err}") from err
    for name, tensor in data.items():
        if not th.isfinite(tensor).all():
            raise CheckpointError(f"{where}: tensor {name!r} holds non-finite values")
    return header, data
