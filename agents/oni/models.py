"""ONI's learned message reward models on message bytes (Zheng et al. 2024, Sec. 4.2-4.3).

- :class:`MessageClassifier`: p(helpful | message) from annotator labels;
  ``r_int = 1[p > threshold]``. Generalises to messages the annotator has not seen yet.
- :class:`BradleyTerryRanker`: a score s(m) fit to preference pairs with the Bradley-Terry
  likelihood P(a preferred to b) = sigmoid(s(a) - s(b)); scores are z-scored over the
  training messages and thresholded keeping their value, ``r_int = 1[z > threshold] * z``
  (the reference's ranking reward, facebookresearch/oni ``learner.py``, threshold
  ``--eps_threshold_quantile`` = -0.5), or min-max normalised with a binary reward.

The retrieval model (a hash table filled asynchronously) is
:class:`advrl.envs.nethack.service.AnnotationService`. All three are ``r_int(message) ->
float`` callables for :class:`advrl.envs.nethack.messages.MessageReward`. The learned ones
train on what the service has labelled so far, e.g.
``clf.fit(list(service.store.labels), list(service.store.labels.values()))`` or
``ranker.fit(preference_pairs(messages, labels, rng, n))``, and then score messages the
annotator has never seen.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import numpy as np
import torch as th
from torch import nn
from torch.nn import functional as F

MAX_LEN = 256
"""NetHack's message buffer length; longer texts are cut."""


def encode_messages(messages: Sequence[str], max_len: int = MAX_LEN) -> th.Tensor:
    """Latin-1 bytes of each message (cut at ``max_len``), NUL padded to the longest one:
    int64 tensor of shape (batch, length). Padding is ignored by :class:`ByteEncoder`, so
    the features do not depend on how much of it there is."""
    if isinstance(messages, str):
        raise TypeError(f"messages must be a sequence of strings, got the string {messages!r}")
    raws = [m.encode("latin-1", errors="replace")[:max_len] for m in messages]
    out = np.zeros((len(raws), max(1, *(len(r) for r in raws))), dtype=np.int64)
    for i, raw in enumerate(raws):
        out[i, : len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return th.from_numpy(out)


class ByteEncoder(nn.Module):
    """Bytes -> features: byte embedding, a width-3 convolution, max-pool over the text.

    Input ``bytes_: shape (batch, length)`` with values 0..255 (0 = padding, ignored);
    output shape (batch, out_dim). An all-padding row (empty message) encodes to zeros.
    """

    def __init__(self, out_dim: int = 64, embed_dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, embed_dim, padding_idx=0)
        self.conv = nn.Conv1d(embed_dim, out_dim, kernel_size=3, padding=1)
        self.out_dim = out_dim

    def forward(self, bytes_: th.Tensor) -> th.Tensor:
        bytes_ = bytes_.long()
        mask = (bytes_ > 0).unsqueeze(1)  # (batch, 1, length)
        hidden = F.relu(self.conv(self.embed(bytes_).transpose(1, 2)))
        return hidden.masked_fill(~mask, 0.0).amax(dim=2)  # ReLU >= 0, so 0 is neutral


def _check_threshold(threshold: float, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a number, got {threshold!r}")
    if not low <= threshold <= high:
        raise ValueError(f"threshold must be in [{low:g}, {high:g}], got {threshold!r}")
    return float(threshold)


class _MessageScorer(nn.Module, abc.ABC):
    """Encoder + linear head, with a per-message cache of the thresholded reward.

    Subclasses say how raw scores become the thresholded quantity (:meth:`normalized`) and,
    if not ``1[value > threshold]``, the reward it gives (:meth:`reward_of`).
    """

    def __init__(self, threshold: float, hidden: int, device: th.device | str) -> None:
        super().__init__()
        self.threshold = threshold  # validated by the subclass: its range depends on it
        self.encoder = ByteEncoder(hidden)
        self.head = nn.Linear(hidden, 1)
        self.device = th.device(device)
        self.to(self.device)
        self._cache: dict[str, float] = {}

    def logits(self, messages: Sequence[str]) -> th.Tensor:
        """Raw scores, shape (batch,)."""
        return self.head(self.encoder(encode_messages(messages).to(self.device))).squeeze(-1)

    @abc.abstractmethod
    def normalized(self, messages: Sequence[str]) -> np.ndarray:
        """Scores compared with ``threshold``, shape (batch,)."""

    def reward_of(self, values: np.ndarray) -> np.ndarray:
        """``r_int`` from normalised scores: ``1[value > threshold]``, shape (batch,)."""
        return (values > self.threshold).astype(np.float64)

    def __call__(self, message: str) -> float:  # type: ignore[override]  # r_int, not forward
        cached = self._cache.get(message)
        if cached is None:
            cached = float(self.reward_of(self.normalized([message]))[0])
            self._cache[message] = cached
        return cached

    def _optimise(self, loss_fn, epochs: int, lr: float, seed: int) -> float:
        if epochs < 1 or not lr > 0:
            raise ValueError(f"epochs must be >= 1 and lr > 0, got {epochs!r}, {lr!r}")
        th.manual_seed(seed)
        self._cache.clear()
        optimiser = th.optim.Adam(self.parameters(), lr=lr)
        loss = th.zeros(())
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = loss_fn()
            loss.backward()
            optimiser.step()
        return float(loss.detach())


class MessageClassifier(_MessageScorer):
    """p(helpful | message); as a reward, ``1[p > threshold]``.

    Args:
        threshold: probability above which a message earns reward 1.
        hidden: width of the byte encoder.
        device: torch device.

    Example:
        >>> clf = MessageClassifier()
        >>> loss = clf.fit(["You kill the newt!", "You can't do that."], [1.0, 0.0], epochs=60)
        >>> clf("You kill the newt!"), clf("You can't do that.")
        (1.0, 0.0)
    """

    def __init__(
        self, threshold: float = 0.5, hidden: int = 64, device: th.device | str = "cpu"
    ) -> None:
        super().__init__(_check_threshold(threshold), hidden, device)

    def fit(
        self,
        messages: Sequence[str],
        labels: Sequence[float],
        epochs: int = 200,
        lr: float = 1e-2,
        seed: int = 0,
    ) -> float:
        """Full-batch cross-entropy on labels in [0, 1]; returns the final loss."""
        if len(messages) != len(labels) or not messages:
            raise ValueError(
                f"need as many labels as messages (>= 1), got {len(messages)} and {len(labels)}"
            )
        target = th.as_tensor(np.asarray(labels, dtype=np.float32), device=self.device)
        if ((target < 0) | (target > 1)).any():
            raise ValueError(f"labels must be in [0, 1], got {list(labels)[:10]!r}")
        x = encode_messages(messages).to(self.device)

        def loss() -> th.Tensor:
            logits = self.head(self.encoder(x)).squeeze(-1)
            return F.binary_cross_entropy_with_logits(logits, target)

        return self._optimise(loss, epochs, lr, seed)

    @th.no_grad()
    def normalized(self, messages: Sequence[str]) -> np.ndarray:
        """p(helpful), shape (batch,)."""
        return th.sigmoid(self.logits(messages)).cpu().numpy()

    proba = normalized


NORMALIZATIONS = ("zscore", "minmax")
REFERENCE_Z_THRESHOLD = -0.5
"""The reference's default ``--eps_threshold_quantile`` (a threshold on z-scores)."""


class BradleyTerryRanker(_MessageScorer):
    """A message score fit to preferences, normalised over the training messages.

    As a reward (the reference's convention by default):

    - ``normalization="zscore"``: ``z = (s - mean) / std`` and ``r_int = 1[z > threshold] * z``
      (threshold any finite number; default -0.5 as in the reference, so mildly negative
      z-scores are kept as small penalties and lower ones are cut to 0);
    - ``normalization="minmax"``: ``s_norm`` in [0, 1] by the training range and
      ``r_int = 1[s_norm > threshold]`` (threshold in [0, 1]; default 0.5).

    The reference z-scores with running moments of the rewards seen in training; here the
    moments are those of the scores over the unique messages of the fitted pairs (fixed after
    :meth:`fit`, so a message's reward never drifts during a run).

    Args:
        threshold: see above; ``None`` takes the normalisation's default.
        normalization: ``"zscore"`` (default) or ``"minmax"``.
        hidden: width of the byte encoder.
        device: torch device.

    Example:
        >>> ranker = BradleyTerryRanker(normalization="minmax")
        >>> loss = ranker.fit([("You find a gem.", "You stop."), ("You find a gem.", "Ouch!")])
        >>> ranker("You find a gem."), ranker("You stop.")
        (1.0, 0.0)
        >>> z = BradleyTerryRanker()  # z-scored: the preferred message keeps its z-score
        >>> loss = z.fit([("You find a gem.", "You stop."), ("You find a gem.", "Ouch!")])
        >>> z("You find a gem.") > 1.0, z("You stop.") <= 0.0
        (True, True)
    """

    def __init__(
        self,
        threshold: float | None = None,
        normalization: str = "zscore",
        hidden: int = 64,
        device: th.device | str = "cpu",
    ) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"unknown normalization {normalization!r}; allowed: {list(NORMALIZATIONS)}"
            )
        self.normalization = normalization
        if normalization == "zscore":
            threshold = REFERENCE_Z_THRESHOLD if threshold is None else threshold
            threshold = _check_threshold(threshold, -math.inf, math.inf)
            if not math.isfinite(threshold):
                raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        else:
            threshold = _check_threshold(0.5 if threshold is None else threshold)
        super().__init__(threshold, hidden, device)
        # minmax: the training range; zscore: mean and std of the training scores.
        self.register_buffer("low", th.zeros((), device=self.device))
        self.register_buffer("high", th.ones((), device=self.device))
        self.register_buffer("mean", th.zeros((), device=self.device))
        self.register_buffer("std", th.ones((), device=self.device))

    def fit(
        self,
        pairs: Sequence[tuple[str, str]],
        epochs: int = 200,
        lr: float = 1e-2,
        seed: int = 0,
    ) -> float:
        """Maximise the Bradley-Terry likelihood of ``(preferred, other)`` pairs; then set
        the normalisation from the scores of the messages in the pairs."""
        if not pairs or any(len(p) != 2 for p in pairs):
            raise ValueError(f"pairs must be (preferred, other) tuples, got {list(pairs)[:3]!r}")
        unique = sorted({m for pair in pairs for m in pair})
        index = {m: i for i, m in enumerate(unique)}
        x = encode_messages(unique).to(self.device)  # score each message once per epoch
        winners = th.tensor([index[w] for w, _ in pairs], device=self.device)
        losers = th.tensor([index[lo] for _, lo in pairs], device=self.device)

        def loss() -> th.Tensor:
            scores = self.head(self.encoder(x)).squeeze(-1)
            return -F.logsigmoid(scores[winners] - scores[losers]).mean()  # -log P(w > l)

        final = self._optimise(loss, epochs, lr, seed)
        with th.no_grad():
            scores = self.logits(unique)
            self.low.copy_(scores.min())
            self.high.copy_(th.maximum(scores.max(), scores.min() + 1e-6))
            self.mean.copy_(scores.mean())
            self.std.copy_(scores.std(correction=0).clamp(min=1e-6))
        return final

    @th.no_grad()
    def normalized(self, messages: Sequence[str]) -> np.ndarray:
        """z-scores (``zscore``) or scores mapped to [0, 1] by the training range, clipped
        (``minmax``); shape (batch,)."""
        scores = self.logits(messages)
        if self.normalization == "zscore":
            return ((scores - self.mean) / self.std).cpu().numpy()
        return ((scores - self.low) / (self.high - self.low)).clamp(0.0, 1.0).cpu().numpy()

    def reward_of(self, values: np.ndarray) -> np.ndarray:
        """``1[z > threshold] * z`` (zscore, the reference's) or ``1[s > threshold]``."""
        if self.normalization == "zscore":
            return np.where(values > self.threshold, values, 0.0).astype(np.float64)
        return super().reward_of(values)


def preference_pairs(
    messages: Sequence[str], labels: Sequence[float], rng: np.random.Generator, n_pairs: int
) -> list[tuple[str, str]]:
    """``n_pairs`` random (higher label, lower label) pairs from labelled messages, the
    input :class:`BradleyTerryRanker` learns from when the annotator gives labels."""
    labels = np.asarray(labels, dtype=float)
    if len(messages) != len(labels):
        raise ValueError(f"got {len(messages)} messages and {len(labels)} labels")
    pairs: list[tuple[str, str]] = []
    for _ in range(100 * n_pairs):
        if len(pairs) == n_pairs:
            break
        i, j = rng.integers(len(messages), size=2)
        if labels[i] != labels[j]:
            hi, lo = (i, j) if labels[i] > labels[j] else (j, i)
            pairs.append((messages[hi], messages[lo]))
    if not pairs:
        raise ValueError("preference pairs need at least two different labels")
    return pairs
