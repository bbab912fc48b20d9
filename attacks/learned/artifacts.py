"""Learned adversaries as artefacts: weights-only files with a card naming victim and budget.

An SB3 adversary (the optimal attack, PA-AD's director) is stored in the zoo's checkpoint
format (:mod:`advrl.zoo.checkpoint`: safetensors, a validated and bounded header, nothing
unpickled). Its header's ``env_kwargs`` are the adversary env's settings, so they name the
victim, its checkpoint digest, ``eps`` and ``norm``: the file itself says what it attacks,
and loading it for another victim or budget fails with both named. The JSON card beside it
records how it was trained (command, steps, seconds, versions).

Loading builds the policy from the tensor shapes alone: no env is made and no victim is
loaded, so an adversary file can be inspected and refused cheaply.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy

from advrl.attacks.learned.victims import check_same_victim
from advrl.zoo import ZOO_DIR
from advrl.zoo.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    policy_kwargs_to_json,
    read_card,
    save_checkpoint,
    stack_versions,
)

ADVERSARY_DIR = ZOO_DIR / "adversaries"
"""Shipped adversaries: ``<kind>-<victim>.safetensors`` with a ``.json`` card."""

KIND_ENV_IDS: dict[str, str] = {
    "optimal": "advrl/ObservationAdversary-v0",
    "paad": "advrl/DirectionAdversary-v0",
}
"""The adversary env each SB3-trained kind of learned attack is trained on."""


@dataclass
class AdversaryCard:
    """What a learned adversary was trained for and how."""

    kind: str
    victim: str
    victim_digest: str | None
    eps: float
    norm: str
    env_id: str
    env_kwargs: dict[str, Any]
    steps: int
    seed: int = 0
    train_seconds: float | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    final_adversary_return: float | None = None
    command: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["policy_kwargs"] = policy_kwargs_to_json(self.policy_kwargs)
        return out


def shipped_path(kind: str, victim: str) -> Path:
    """Where the shipped ``kind`` adversary of zoo victim ``victim`` lives."""
    return ADVERSARY_DIR / f"{kind}-{victim}.safetensors"


def shipped_adversaries() -> list[str]:
    """Names of the shipped adversaries, e.g. ``["optimal-ppo-hopper", ...]``."""
    return sorted(p.stem for p in ADVERSARY_DIR.glob("*.safetensors"))


def check_budget_matches(
    trained: dict[str, Any], eps: float | None, norm: str | None, where: str
) -> None:
    """Refuse an adversary used at another eps or norm than it was trained for."""
    if eps is not None and not math.isclose(float(eps), float(trained["eps"]), rel_tol=1e-9):
        raise ValueError(
            f"{where} was trained for eps={trained['eps']:g}, not eps={float(eps):g}; "
            "train one for this budget"
        )
    if norm is not None and norm != trained["norm"]:
        raise ValueError(f"{where} was trained for norm {trained['norm']!r}, not {norm!r}")


def save_sb3_adversary(
    path: str | Path, policy: ActorCriticPolicy, card: AdversaryCard, command: str = ""
) -> Path:
    """Write the adversary's policy weights (safetensors) and its card, atomically."""
    path = Path(path)
    save_checkpoint(path, algo="PPO", env_id=card.env_id, policy=policy,
                    policy_kwargs=card.policy_kwargs, env_kwargs=card.env_kwargs)  # fmt: skip
    card.command = command or card.command
    record = card.to_json()
    record["versions"] = stack_versions()
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())
    return path


def load_sb3_adversary(
    path: str | Path,
    *,
    kind: str,
    victim: str | None = None,
    eps: float | None = None,
    norm: str | None = None,
    device: str = "cpu",
) -> tuple[ActorCriticPolicy, AdversaryCard]:
    """Load an SB3 adversary's policy and card; refuse another kind, victim or budget.

    Raises:
        CheckpointError: the file is corrupt, not an adversary of ``kind``, or its tensors do
            not describe an actor-critic policy.
        ValueError: it was trained for another victim (by digest), eps or norm.
    """
    path = Path(path)
    where = f"adversary {str(path)!r}"
    env_id = KIND_ENV_IDS[kind]
    ckpt = load_checkpoint(path, allowed_env_ids={env_id})
    if ckpt.env_id != env_id:  # allowed_env_ids already refuses others; keep the invariant
        raise CheckpointError(f"{where} is for {ckpt.env_id!r}, not a {kind!r} adversary")
    trained = ckpt.env_kwargs
    for key in ("victim", "eps", "norm"):
        if key not in trained:
            raise CheckpointError(f"{where} does not say its {key} (env_kwargs: {trained})")
    check_budget_matches(trained, eps, norm, where)
    if victim is not None:
        check_same_victim(victim, trained["victim"], trained.get("victim_digest"))
    policy = _build_policy(ckpt.state_dict, ckpt.policy_kwargs, where, device)
    card_fields = read_card(path.with_suffix(".json"))
    card = AdversaryCard(
        kind=kind, victim=trained["victim"], victim_digest=trained.get("victim_digest"),
        eps=float(trained["eps"]), norm=trained["norm"], env_id=env_id, env_kwargs=trained,
        steps=int(card_fields.get("steps", 0)), seed=int(card_fields.get("seed", 0)),
        train_seconds=card_fields.get("train_seconds"),
        hyperparameters=card_fields.get("hyperparameters", {}),
        policy_kwargs=ckpt.policy_kwargs,
        final_adversary_return=card_fields.get("final_adversary_return"),
        command=str(card_fields.get("command", "")),
    )  # fmt: skip
    return policy, card


def _build_policy(
    state_dict: dict[str, th.Tensor], policy_kwargs: dict[str, Any], where: str, device: str
) -> ActorCriticPolicy:
    """An ActorCriticPolicy whose spaces are read off the weights (obs in, action out)."""
    try:
        obs_dim = state_dict["mlp_extractor.policy_net.0.weight"].shape[1]
        act_dim = state_dict["action_net.weight"].shape[0]
    except KeyError as err:
        raise CheckpointError(f"{where} has no tensor {err}: not an actor-critic policy") from err
    obs_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
    try:
        policy = ActorCriticPolicy(obs_space, act_space, lambda _: 0.0, **policy_kwargs)
        policy.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: weights do not fit an actor-critic policy: {err}") from err
    policy.set_training_mode(False)
    return policy.to(device)
