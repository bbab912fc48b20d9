"""Learning a reward net from preferences: the Bradley-Terry and regret preference models.

Bradley-Terry over segment scores (Christiano et al. 2017): ``P(a > b) = sigmoid(S(a) -
S(b))``, trained by binary cross-entropy against the (possibly noisy, possibly 0.5) labels.
The segment score ``S`` is

- ``"bt"``: the partial return ``sum_t r_hat(s_t, a_t, s_{t+1})``;
- ``"regret"`` (Knox et al. 2022): minus the segment's regret under ``r_hat``,
  ``sum_t r_hat_t + Phi(s_T) - Phi(s_0)`` (module docstring of ``preferences``), where the
  optimal value ``V*_{r_hat}`` is replaced by a potential ``Phi`` (an MLP on observations)
  learned jointly with ``r_hat``. This is the simple, honest version: it does not solve for
  ``V*`` of the learned reward. Since ``r_hat + Phi(s') - Phi(s)`` is a potential-shaped
  ``r_hat`` (Ng et al. 1999), preferences under this model pin ``r_hat`` down only up to
  such shaping, which leaves optimal policies unchanged; ``Phi`` is a training aid and is
  not part of the saved reward model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch as th
import torch.nn.functional as F
from torch import nn

from advrl.agents.reward_models.nets import RewardNet
from advrl.agents.reward_models.preferences import PREFERENCE_MODELS, PreferenceData
from advrl.progress import progress


def bradley_terry_loss(score_a: th.Tensor, score_b: th.Tensor, labels: th.Tensor) -> th.Tensor:
    """Mean ``-[y log sigmoid(a - b) + (1 - y) log sigmoid(b - a)]``; all shape ``(m,)``.

    Example:
        >>> bradley_terry_loss(th.tensor([0.0]), th.tensor([0.0]), th.tensor([1.0]))
        tensor(0.6931)
    """
    if not (score_a.shape == score_b.shape == labels.shape) or score_a.ndim != 1:
        raise ValueError(
            f"score_a, score_b and labels must be 1-D of one shape, got {tuple(score_a.shape)}, "
            f"{tuple(score_b.shape)}, {tuple(labels.shape)}"
        )
    return F.binary_cross_entropy_with_logits(score_a - score_b, labels.to(score_a.dtype))


def pair_accuracy(score_a: np.ndarray, score_b: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of pairs (labels != 0.5) whose preferred segment scores strictly higher."""
    score_a, score_b, labels = map(np.asarray, (score_a, score_b, labels))
    decided = labels != 0.5
    if not decided.any():
        return float("nan")
    right = np.where(labels > 0.5, score_a > score_b, score_b > score_a)
    return float(right[decided].mean())


@dataclass
class TrainReport:
    """Per-epoch training loss and the pair accuracies after training.

    ``*_accuracy`` is against the (noisy) labels; ``*_clean_accuracy`` against the noiseless
    labels of synthetic data (NaN when unknown). With label noise ``p`` a perfect model's
    noisy-label accuracy is about ``1 - p``.
    """

    losses: list[float] = field(default_factory=list)
    train_accuracy: float = float("nan")
    held_out_accuracy: float = float("nan")
    held_out_clean_accuracy: float = float("nan")


class PreferenceTrainer:
    """Minibatch Adam on the preference loss for one :class:`RewardNet`.

    Args:
        net: the reward net (trained in place, on its own device).
        model: ``"bt"`` (partial return) or ``"regret"`` (module docstring).
        lr: Adam step size. weight_decay: L2 on the reward net.
        batch_size: pairs per step.
        seed: the data order (and the potential's initialisation for ``"regret"``).

    Example:
        >>> import gymnasium as gym
        >>> from advrl.agents.reward_models import rollout_segments, synthetic_preferences
        >>> env = gym.make("CartPole-v1")
        >>> data = synthetic_preferences(rollout_segments(env, 20, 5), 40)
        >>> net = RewardNet(env.observation_space, env.action_space, hidden=(8,))
        >>> report = PreferenceTrainer(net).fit(data, epochs=2)
        >>> len(report.losses)
        2
    """

    def __init__(
        self,
        net: RewardNet,
        model: str = "bt",
        lr: float = 1e-3,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> None:
        if model not in PREFERENCE_MODELS:
            raise ValueError(
                f"unknown preference model {model!r}; allowed: {list(PREFERENCE_MODELS)}"
            )
        if batch_size < 1 or lr <= 0:
            raise ValueError(f"need batch_size >= 1 and lr > 0, got {batch_size}, {lr}")
        self.net, self.model, self.batch_size = net, model, batch_size
        self.generator = th.Generator().manual_seed(seed)
        params = [{"params": net.parameters(), "weight_decay": weight_decay}]
        self.potential: nn.Module | None = None
        if model == "regret":
            with th.random.fork_rng(devices=[]):
                th.manual_seed(seed)
                obs_dim = int(np.prod(net.obs_shape))
                self.potential = nn.Sequential(
                    nn.Linear(obs_dim, 64), nn.ReLU(), nn.Linear(64, 1)
                ).to(net.device)
            params.append({"params": self.potential.parameters(), "weight_decay": 0.0})
        self.optimizer = th.optim.Adam(params, lr=lr)

    def _tensors(self, data: PreferenceData) -> dict[str, th.Tensor]:
        s = data.segments
        dev = self.net.device
        return {"obs": th.as_tensor(s.obs, device=dev), "actions": th.as_tensor(s.actions,
                device=dev), "next_obs": th.as_tensor(s.next_obs, device=dev)}  # fmt: skip

    def scores(self, seg: dict[str, th.Tensor], idx: th.Tensor) -> th.Tensor:
        """Scores of segments ``idx`` (shape ``(m,)``) under the learned reward, ``(m,)``."""
        obs, acts, nxt = seg["obs"][idx], seg["actions"][idx], seg["next_obs"][idx]
        m, length = obs.shape[:2]
        flat = lambda x: x.reshape(m * length, *x.shape[2:])  # noqa: E731
        score = self.net(flat(obs), flat(acts), flat(nxt)).reshape(m, length).sum(dim=1)
        if self.potential is not None:
            end = self.potential(nxt[:, -1].reshape(m, -1).float()).squeeze(-1)
            start = self.potential(obs[:, 0].reshape(m, -1).float()).squeeze(-1)
            score = score + end - start
        return score

    @th.no_grad()
    def pair_scores(self, data: PreferenceData) -> tuple[np.ndarray, np.ndarray]:
        """Learned scores of every pair's two segments, each shape ``(m,)``."""
        seg = self._tensors(data)
        pairs = th.as_tensor(data.pairs, device=self.net.device)
        out = [self.scores(seg, pairs[:, j]).cpu().numpy() for j in (0, 1)]
        return out[0], out[1]

    def _epoch(self, seg: dict[str, th.Tensor], pairs: th.Tensor, labels: th.Tensor) -> float:
        """One reshuffled pass of minibatch steps; the mean loss over the pairs."""
        order = th.randperm(len(pairs), generator=self.generator).to(self.net.device)
        total = 0.0
        for start in range(0, len(pairs), self.batch_size):
            idx = order[start : start + self.batch_size]
            loss = bradley_terry_loss(
                self.scores(seg, pairs[idx, 0]), self.scores(seg, pairs[idx, 1]), labels[idx]
            )
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(idx)
        return total / len(pairs)

    def fit(
        self,
        data: PreferenceData,
        epochs: int = 10,
        held_out: PreferenceData | None = None,
        progress_bar: bool = False,
        callback: Callable[[float], None] | None = None,
    ) -> TrainReport:
        """Train for ``epochs`` passes over ``data`` (reshuffled each epoch).

        ``progress_bar`` shows a bar over the epochs; ``callback`` gets each epoch's mean loss.
        """
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        seg = self._tensors(data)
        pairs = th.as_tensor(data.pairs, device=self.net.device)
        labels = th.as_tensor(data.labels, dtype=th.float32, device=self.net.device)
        report = TrainReport()
        with progress(progress_bar, epochs, "reward model", "epoch") as bar:
            for _ in range(epochs):
                report.losses.append(self._epoch(seg, pairs, labels))
                bar.update(1)
                if callback is not None:
                    callback(report.losses[-1])
        report.train_accuracy = pair_accuracy(*self.pair_scores(data), data.labels)
        if held_out is not None:
            a, b = self.pair_scores(held_out)
            report.held_out_accuracy = pair_accuracy(a, b, held_out.labels)
            if held_out.clean_labels is not None:
                report.held_out_clean_accuracy = pair_accuracy(a, b, held_out.clean_labels)
        return report


def train_reward_model(
    net: RewardNet,
    data: PreferenceData,
    epochs: int = 10,
    held_out: float | PreferenceData = 0.2,
    normalize: bool = True,
    seed: int = 0,
    progress_bar: bool = False,
    callback: Callable[[float], None] | None = None,
    **trainer_kwargs,
) -> TrainReport:
    """Split off held-out pairs (a fraction, or given data), train, report accuracies, then
    normalise the net's output to mean 0, std 1 on the training transitions.

    ``progress_bar`` and ``callback`` are :meth:`PreferenceTrainer.fit`'s."""
    if isinstance(held_out, PreferenceData):
        train, test = data, held_out
    else:
        train, test = data.split(held_out, seed=seed)
    trainer = PreferenceTrainer(net, seed=seed, **trainer_kwargs)
    report = trainer.fit(train, epochs, test, progress_bar=progress_bar, callback=callback)
    if normalize:
        obs, acts, nxt = (th.as_tensor(x, device=net.device) for x in data.segments.flat())
        net.normalize_on(obs, acts, nxt)
    return report
