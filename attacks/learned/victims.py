"""Victims of learned attacks: named by a zoo name or a zoo-format file, identified by digest.

A learned adversary is trained for one victim. Its file records the victim's name *and* the
SHA-256 of the victim's checkpoint, so an adversary is never silently run against a
different policy that happens to carry the same name (a retrained ``ppo-hopper``, a file
copied over another).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from advrl.zoo import ZOO_DIR, ZooPolicy, load, load_file, names

DIGEST_CHARS = 16
"""Hex characters of the SHA-256 kept: 64 bits tell checkpoints apart."""


def victim_path(victim: str) -> Path:
    """The checkpoint file of a victim given as a zoo name or a ``.safetensors`` path.

    Raises:
        TypeError: ``victim`` is not a string.
        ValueError: neither a zoo name nor an existing ``.safetensors`` file.
    """
    if not isinstance(victim, str):
        raise TypeError(f"victim must be a zoo name or a path, got {type(victim).__name__}")
    if victim in names():
        return ZOO_DIR / f"{victim}.safetensors"
    path = Path(victim)
    if path.suffix == ".safetensors" and path.is_file():
        return path
    raise ValueError(
        f"unknown victim {victim!r}: not a zoo name ({', '.join(names())}) and not an "
        "existing .safetensors file"
    )


def victim_name(victim: str) -> str:
    """A victim's short name: a zoo name as it is, a file's name without ``.safetensors``
    (``Path.stem`` would cut ``ppo-halfcheetah-smooth-sigma0.1`` at its last dot)."""
    name = Path(victim).name
    return name.removesuffix(".safetensors")


def victim_digest(victim: str) -> str:
    """The first :data:`DIGEST_CHARS` hex digits of the SHA-256 of the victim's checkpoint."""
    return hashlib.sha256(victim_path(victim).read_bytes()).hexdigest()[:DIGEST_CHARS]


def load_victim(victim: str, device: str = "cpu") -> ZooPolicy:
    """Load a victim given as a zoo name or a zoo-format file (validated, nothing unpickled)."""
    path = victim_path(victim)
    if victim in names():
        return load(victim, device=device)
    return load_file(path, device=device)


def check_same_victim(victim: str, trained_for: str, trained_digest: str | None) -> None:
    """Refuse an adversary trained for another victim: compare checkpoint digests.

    Raises:
        ValueError: naming both victims (and both digests when the names agree).
    """
    if trained_digest is None:
        return
    digest = victim_digest(victim)
    if digest != trained_digest:
        detail = (
            f"{victim!r} (digest {digest})"
            if Path(victim).name == Path(trained_for).name
            else repr(victim)
        )
        raise ValueError(
            f"this adversary was trained for victim {trained_for!r} (digest {trained_digest}), "
            f"not for {detail}; train one for this victim"
        )
