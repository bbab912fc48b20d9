"""Reward-model ensembles and conservative aggregations (Coste et al. 2024, "Reward Model
Ensembles Help Mitigate Overoptimization", Sec. 3).

For member rewards ``R_k`` (k = 1..K) of one transition:

- ``"mean"``: ``mean_k R_k``;
- ``"wco"`` (worst-case optimisation): ``min_k R_k``;
- ``"uwo"`` (uncertainty-weighted optimisation): ``mean_k R_k - lam * Var_k R_k``.

The variance convention is a parameter: ``ddof=0`` is the population variance
``sum_k (R_k - mean)^2 / K`` (the default, as ``numpy.var``), ``ddof=1`` the unbiased
sample variance ``/ (K - 1)`` (as ``torch.var``). The reported spread is
``sqrt(Var_k R_k)`` with the same convention. Members share the preference data and differ
by initialisation seed and data order; each is normalised to mean 0, std 1 on the training
transitions, so their outputs are on one scale before they are compared.
"""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from torch import nn

from advrl.agents.reward_models.nets import (
    RewardNet,
    build_reward_net,
    load_tensors,
    save_tensors,
)
from advrl.agents.reward_models.preferences import PreferenceData
from advrl.agents.reward_models.training import TrainReport, train_reward_model
from advrl.progress import progress

AGGREGATIONS = ("mean", "wco", "uwo")


def check_aggregation(aggregation: str, n_members: int, lam: float, ddof: int) -> None:
    """Raise a clear error for an unknown aggregation, a too-small ensemble for WCO/UWO, a
    negative or non-finite lambda, or a ddof other than 0 or 1."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; allowed: {list(AGGREGATIONS)}")
    if aggregation in ("wco", "uwo") and n_members < 2:
        raise ValueError(
            f"{aggregation!r} needs an ensemble of at least 2 members, got {n_members}"
        )
    if not (isinstance(lam, int | float) and math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 0 (population) or 1 (unbiased), got {ddof!r}")


def aggregate(
    rewards: th.Tensor, aggregation: str = "mean", lam: float = 0.0, ddof: int = 0
) -> th.Tensor:
    """Aggregate member rewards ``(K, batch)`` into ``(batch,)`` (module docstring).

    Example:
        >>> r = th.tensor([[1.0], [3.0]])
        >>> aggregate(r, "uwo", lam=0.5).item()  # 2 - 0.5 * 1
        1.5
    """
    if rewards.ndim != 2:
        raise ValueError(f"rewards must have shape (members, batch), got {tuple(rewards.shape)}")
    check_aggregation(aggregation, rewards.shape[0], lam, ddof)
    if aggregation == "mean":
        return rewards.mean(dim=0)
    if aggregation == "wco":
        return rewards.min(dim=0).values
    return rewards.mean(dim=0) - lam * rewards.var(dim=0, correction=ddof)


class RewardEnsemble(nn.Module):
    """K reward nets served as one reward through an aggregation.

    Args:
        members: the nets (same spaces; one device).
        aggregation: ``"mean"``, ``"wco"`` or ``"uwo"``.
        lam: the UWO variance weight (>= 0; Coste et al. use 0.5 for best-of-n, 0.1 for PPO).
        ddof: 0 (population variance) or 1 (unbiased).

    Example:
        >>> import gymnasium as gym
        >>> obs, act = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2)
        >>> ens = RewardEnsemble([RewardNet(obs, act, (8,)) for _ in range(3)], "wco")
        >>> ens(th.zeros(4, 3), th.zeros(4, dtype=th.long), th.zeros(4, 3)).shape
        torch.Size([4])
    """

    def __init__(
        self, members: list[RewardNet], aggregation: str = "mean", lam: float = 0.0,
        ddof: int = 0,
    ) -> None:  # fmt: skip
        super().__init__()
        if not members or not all(isinstance(m, RewardNet) for m in members):
            raise TypeError(f"members must be a non-empty list of RewardNet, got {members!r}")
        check_aggregation(aggregation, len(members), lam, ddof)
        self.members = nn.ModuleList(members)
        self.aggregation, self.lam, self.ddof = aggregation, float(lam), int(ddof)

    @property
    def device(self) -> th.device:
        return self.members[0].device

    def __len__(self) -> int:
        return len(self.members)

    def with_aggregation(self, aggregation: str, lam: float = 0.0, ddof: int | None = None):
        """The same members (shared, not copied) under another aggregation."""
        return RewardEnsemble(list(self.members), aggregation, lam,
                              self.ddof if ddof is None else ddof)  # fmt: skip

    @property
    def _same_inputs(self) -> bool:
        """Members read the same features, so they are built once per batch."""
        first = self.members[0].config
        return all(m.config["inputs"] == first["inputs"] for m in self.members)

    def member_rewards(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        """Every member's reward, shape ``(K, batch)``."""
        if self._same_inputs:
            x = self.members[0].features(obs, actions, next_obs)
            return th.stack([m.head(x) for m in self.members])
        return th.stack([m(obs, actions, next_obs) for m in self.members])

    def forward(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor) -> th.Tensor:
        """The aggregated reward, shape ``(batch,)``."""
        return aggregate(self.member_rewards(obs, actions, next_obs), self.aggregation,
                         self.lam, self.ddof)  # fmt: skip

    @th.inference_mode()
    def predict(
        self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Aggregated reward and member spread ``sqrt(Var_k)`` (this ensemble's ddof), numpy
        in and out, each shape ``(batch,)``; one forward pass per member."""
        if self._same_inputs and self.device.type == "cpu":
            x = self.members[0].numpy_features(obs, actions, next_obs)
            rewards = th.from_numpy(np.stack([m.numpy_head(x) for m in self.members]))
        elif self._same_inputs:
            x = th.from_numpy(self.members[0].numpy_features(obs, actions, next_obs))
            x = x.to(self.device)
            rewards = th.stack([m.head(x) for m in self.members])
        else:
            tensors = (th.as_tensor(np.asarray(x)) for x in (obs, actions, next_obs))
            rewards = self.member_rewards(*tensors)
        agg = aggregate(rewards, self.aggregation, self.lam, self.ddof)
        spread = rewards.var(dim=0, correction=self.ddof).sqrt() if len(self) > 1 else (
            th.zeros_like(agg))  # fmt: skip
        return agg.cpu().numpy().astype(np.float32), spread.cpu().numpy().astype(np.float32)


def train_ensemble(
    observation_space: gym.Space,
    action_space: gym.Space,
    data: PreferenceData,
    n_members: int = 5,
    seed: int = 0,
    epochs: int = 10,
    held_out: float | PreferenceData = 0.2,
    net_kwargs: dict | None = None,
    device: th.device | str = "cpu",
    progress_bar: bool = False,
    **trainer_kwargs,
) -> tuple[RewardEnsemble, list[TrainReport]]:
    """Train ``n_members`` nets on the same preferences; member ``k`` uses seed
    ``seed * 1000 + k`` for its initialisation and its data order. The held-out split is the
    same for every member. Returns the ensemble (aggregation ``"mean"``) and the reports.

    ``progress_bar`` shows one bar over every member's epochs."""
    if n_members < 1:
        raise ValueError(f"n_members must be >= 1, got {n_members}")
    if not isinstance(held_out, PreferenceData):
        data, held_out = data.split(held_out, seed=seed)
    members, reports = [], []
    with progress(progress_bar, n_members * epochs, "reward ensemble", "epoch") as bar:
        for k in range(n_members):
            member_seed = seed * 1000 + k
            with th.random.fork_rng(devices=[]):
                th.manual_seed(member_seed)
                net = RewardNet(observation_space, action_space, device=device,
                                **(net_kwargs or {}))  # fmt: skip
            reports.append(train_reward_model(net, data, epochs, held_out, seed=member_seed,
                                              callback=lambda _: bar.update(1),
                                              **trainer_kwargs))  # fmt: skip
            members.append(net)
    return RewardEnsemble(members), reports


def save_ensemble(ensemble: RewardEnsemble, path: str | Path) -> None:
    """Weights-only file (safetensors + JSON header) with every member and the aggregation.

    Example:
        >>> import gymnasium as gym, tempfile, os
        >>> obs, act = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (1,))
        >>> ens = RewardEnsemble([RewardNet(obs, act, (4,)) for _ in range(2)], "uwo", 0.1)
        >>> path = os.path.join(tempfile.mkdtemp(), "ens.safetensors")
        >>> save_ensemble(ens, path)
        >>> back = load_ensemble(path)
        >>> (len(back), back.aggregation, back.lam)
        (2, 'uwo', 0.1)
    """
    tensors = {f"member{k}.{name}": t for k, m in enumerate(ensemble.members)
               for name, t in m.state_dict().items()}  # fmt: skip
    header = {"kind": "ensemble", "configs": [m.config for m in ensemble.members],
              "aggregation": ensemble.aggregation, "lam": ensemble.lam, "ddof": ensemble.ddof}
    save_tensors(path, tensors, header)


def load_ensemble(path: str | Path, device: th.device | str = "cpu") -> RewardEnsemble:
    """Inverse of :func:`save_ensemble`."""
    tensors, header = load_tensors(path)
    if header.get("kind") != "ensemble":
        raise ValueError(f"{str(path)!r} holds a {header.get('kind')!r}, not an ensemble")
    members = []
    for k, config in enumerate(header["configs"]):
        net = build_reward_net(config, device)
        prefix = f"member{k}."
        net.load_state_dict({n[len(prefix):]: t for n, t in tensors.items()
                             if n.startswith(prefix)})  # fmt: skip
        members.append(net)
    return RewardEnsemble(members, header["aggregation"], header["lam"], header["ddof"])
