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

Lipschitz regularisation (:class:`GradientPenalty`, and ``RewardNet(spectral_norm=True)``):
the penalty of :func:`advrl.agents.lipschitz.gradient_penalty` is added to the preference
loss, ``loss = BT + weight * penalty``, taken w.r.t. the features the net reads (raw
flattened observations and ``Box`` actions). A ``Discrete`` action's one-hot is held fixed:
its "gradient" is not a change any input can make. Preference data has no expert / policy
split, so the sites are the ones that make sense for a pair of segments:

============== ===============================================================================
site           points
============== ===============================================================================
data           the batch's transitions (both segments of every pair): the points the reward
               is read at, and, for a small-eps observation attack, the centres of its balls
policy_noise   the batch's transitions plus ``N(0, noise_std^2)`` per feature: their
               neighbourhood
interpolates   ``u x_a + (1 - u) x_b`` between the t-th transitions of a pair's two segments,
               ``u ~ U(0, 1)`` per transition (WGAN-GP's site; for ``Discrete`` actions the
               one-hot of ``x_b`` is kept)
============== ===============================================================================

Each epoch the trainer logs a local Lipschitz estimate, the largest input-gradient norm over
a fixed sample of training transitions (:func:`advrl.agents.lipschitz.local_lipschitz`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch as th
import torch.nn.functional as F
from torch import nn

from advrl.agents.lipschitz import gradient_norms, gradient_penalty, local_lipschitz
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


PENALTY_SITES = ("data", "policy_noise", "interpolates")
"""Where a preference trainer's gradient penalty is taken (module docstring)."""


@dataclass(frozen=True)
class GradientPenalty:
    """A gradient penalty on a reward net's input gradient, added to the preference loss.

    Args:
        weight: the penalty's factor in the loss (>= 0; Blonde et al.'s reference uses 10).
        target: the Lipschitz constant ``k`` aimed at, in reward units per raw feature unit.
        one_sided: ``max(0, ||grad|| - k)^2`` (default) instead of WGAN-GP's
            ``(||grad|| - k)^2``.
        site: one of :data:`PENALTY_SITES` (module docstring).
        noise_std: the Gaussian's std for ``site="policy_noise"``, in raw feature units.

    Example:
        >>> GradientPenalty(10.0, site="interpolates").one_sided
        True
    """

    weight: float
    target: float = 1.0
    one_sided: bool = True
    site: str = "data"
    noise_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("weight", "target", "noise_std"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"gradient penalty {name} must be a finite number >= 0, "
                                 f"got {value!r}")  # fmt: skip
        if self.site not in PENALTY_SITES:
            why = (" (it needs an expert / policy split, which preference data lacks)"
                   if self.site == "expert_noise" else "")  # fmt: skip
            raise ValueError(f"unknown gradient-penalty site {self.site!r}{why}; allowed for "
                             f"preference training: {list(PENALTY_SITES)}")  # fmt: skip


@dataclass
class TrainReport:
    """Per-epoch training losses, Lipschitz estimates, and the pair accuracies after training.

    ``losses`` are the preference (BT or regret) loss, ``penalties`` the unweighted gradient
    penalty (zeros without one): their weighted sum is what the optimiser minimised.
    ``lipschitz`` is the local Lipschitz estimate at each epoch's end (largest input-gradient
    norm over a fixed sample of training transitions, in the units the net is trained in);
    ``lipschitz_normalized`` the same after :func:`train_reward_model`'s normalisation
    (reward std units; NaN when not normalised).
    ``*_accuracy`` is against the (noisy) labels; ``*_clean_accuracy`` against the noiseless
    labels of synthetic data (NaN when unknown). With label noise ``p`` a perfect model's
    noisy-label accuracy is about ``1 - p``.
    """

    losses: list[float] = field(default_factory=list)
    penalties: list[float] = field(default_factory=list)
    lipschitz: list[float] = field(default_factory=list)
    lipschitz_normalized: float = float("nan")
    seconds: float = 0.0
    """Wall time of the training epochs (not the accuracy evaluation)."""
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
        penalty: a :class:`GradientPenalty` added to the loss (None: none).
        lipschitz_samples: training transitions the per-epoch Lipschitz estimate is taken
            over (a fixed random sample).

    Raises:
        ValueError: a penalty on a net with no input gradient to penalise (it reads only a
            ``Discrete`` action, or its output is detached from its inputs), before training.

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
        penalty: GradientPenalty | None = None,
        lipschitz_samples: int = 1024,
    ) -> None:
        if model not in PREFERENCE_MODELS:
            raise ValueError(
                f"unknown preference model {model!r}; allowed: {list(PREFERENCE_MODELS)}"
            )
        if batch_size < 1 or lr <= 0:
            raise ValueError(f"need batch_size >= 1 and lr > 0, got {batch_size}, {lr}")
        if penalty is not None and not isinstance(penalty, GradientPenalty):
            raise TypeError(f"penalty must be a GradientPenalty or None, got {penalty!r}")
        if lipschitz_samples < 1:
            raise ValueError(f"lipschitz_samples must be >= 1, got {lipschitz_samples}")
        self.net, self.model, self.batch_size = net, model, batch_size
        self.penalty, self.lipschitz_samples = penalty, lipschitz_samples
        self.generator = th.Generator().manual_seed(seed)
        # its own stream, so a penalty's draws leave the data order of a seed unchanged
        self.penalty_generator = th.Generator(device=net.device).manual_seed(seed + 1)
        self.columns = net.differentiable_columns()
        if penalty is not None and not len(self.columns):
            raise ValueError(
                "the reward net reads only a Discrete action, whose one-hot has no meaningful "
                f"input gradient (inputs={net.config['inputs']}); nothing to penalise"
            )
        if penalty is not None:  # fail now, not after the first epoch
            n_features = net.features(*self._probe()).shape[1]
            gradient_norms(self._scorer(th.zeros(1, n_features, device=net.device)),
                           [th.zeros(1, len(self.columns), device=net.device)], False)  # fmt: skip
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

    def _probe(self) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """One all-zero transition (to size the features)."""
        obs = th.zeros(1, *self.net.obs_shape, device=self.net.device)
        space = self.net.action_space
        action = th.zeros((1,) if self.net.discrete_n else (1, *space.shape), device=obs.device)
        return obs, action, obs

    def _scorer(self, base: th.Tensor) -> Callable[[th.Tensor], th.Tensor]:
        """``fn(columns) -> rewards``: the net's head with the differentiable feature columns
        given and the rest (a Discrete one-hot) taken from ``base`` (rows must match)."""
        if len(self.columns) == base.shape[1]:
            return self.net.head
        base = base.detach()
        return lambda part: self.net.head(base.index_copy(1, self.columns, part))

    def penalty_value(self, features_a: th.Tensor, features_b: th.Tensor) -> th.Tensor:
        """The (unweighted) gradient penalty of a batch, a differentiable scalar.

        Args:
            features_a, features_b: the features of the pairs' first and second segments,
                shape ``(pairs * length, features)``, row ``i`` of both the same time step.
        """
        p = self.penalty
        if p is None:
            raise ValueError("this trainer has no gradient penalty")
        cols = self.columns
        if p.site == "interpolates":
            expert, base = [features_a[:, cols]], features_b
        else:
            expert, base = None, th.cat([features_a, features_b])
        return gradient_penalty(self._scorer(base), expert, [base[:, cols]], target=p.target,
                                one_sided=p.one_sided, site=p.site, noise_std=p.noise_std,
                                generator=self.penalty_generator)  # fmt: skip

    def lipschitz(self, features: th.Tensor) -> float:
        """Local Lipschitz estimate over rows of features, shape ``(n, features)`` (NaN for a
        net that reads only a Discrete action: no input gradient)."""
        if not len(self.columns):
            return float("nan")
        return local_lipschitz(self._scorer(features), [features[:, self.columns]])

    def _tensors(self, data: PreferenceData) -> dict[str, th.Tensor]:
        s = data.segments
        dev = self.net.device
        return {"obs": th.as_tensor(s.obs, device=dev), "actions": th.as_tensor(s.actions,
                device=dev), "next_obs": th.as_tensor(s.next_obs, device=dev)}  # fmt: skip

    def features(self, seg: dict[str, th.Tensor], idx: th.Tensor) -> th.Tensor:
        """The net's features of every transition of segments ``idx`` (shape ``(m,)``),
        shape ``(m * length, features)``, segment-major."""
        obs, acts, nxt = seg["obs"][idx], seg["actions"][idx], seg["next_obs"][idx]
        m, length = obs.shape[:2]
        flat = lambda x: x.reshape(m * length, *x.shape[2:])  # noqa: E731
        return self.net.features(flat(obs), flat(acts), flat(nxt))

    def scores(
        self, seg: dict[str, th.Tensor], idx: th.Tensor, features: th.Tensor | None = None
    ) -> th.Tensor:
        """Scores of segments ``idx`` (shape ``(m,)``) under the learned reward, ``(m,)``;
        ``features``: theirs from :meth:`features`, if already built."""
        obs, nxt = seg["obs"][idx], seg["next_obs"][idx]
        m, length = obs.shape[:2]
        x = self.features(seg, idx) if features is None else features
        score = self.net.head(x).reshape(m, length).sum(dim=1)
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
        with self.net.serving():
            out = [self.scores(seg, pairs[:, j]).cpu().numpy() for j in (0, 1)]
        return out[0], out[1]

    def batch_loss(
        self, seg: dict[str, th.Tensor], pairs: th.Tensor, labels: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """``(loss, preference loss, penalty)`` of a batch of pairs ``(m, 2)`` with labels
        ``(m,)``: ``loss = preference + weight * penalty`` (penalty 0 without one)."""
        xa, xb = self.features(seg, pairs[:, 0]), self.features(seg, pairs[:, 1])
        pref = bradley_terry_loss(self.scores(seg, pairs[:, 0], xa),
                                  self.scores(seg, pairs[:, 1], xb), labels)  # fmt: skip
        if self.penalty is None or self.penalty.weight == 0:
            return pref, pref, pref.new_zeros(())
        penalty = self.penalty_value(xa, xb)
        return pref + self.penalty.weight * penalty, pref, penalty

    def _epoch(
        self, seg: dict[str, th.Tensor], pairs: th.Tensor, labels: th.Tensor
    ) -> tuple[float, float]:
        """One reshuffled pass of minibatch steps; the mean preference loss and penalty."""
        order = th.randperm(len(pairs), generator=self.generator).to(self.net.device)
        totals = np.zeros(2)
        for start in range(0, len(pairs), self.batch_size):
            idx = order[start : start + self.batch_size]
            loss, pref, penalty = self.batch_loss(seg, pairs[idx], labels[idx])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            totals += np.array([float(pref.detach()), float(penalty.detach())]) * len(idx)
        return float(totals[0] / len(pairs)), float(totals[1] / len(pairs))

    def lipschitz_sample(self, data: PreferenceData, seed: int = 0) -> th.Tensor:
        """Features of a fixed random sample of ``data``'s transitions (at most
        ``lipschitz_samples``), shape ``(n, features)``."""
        obs, acts, nxt = (th.as_tensor(x, device=self.net.device) for x in data.segments.flat())
        n = min(self.lipschitz_samples, len(obs))
        pick = th.randperm(len(obs), generator=th.Generator().manual_seed(seed))[:n]
        pick = pick.to(obs.device)
        return self.net.features(obs[pick], acts[pick], nxt[pick])

    def fit(
        self,
        data: PreferenceData,
        epochs: int = 10,
        held_out: PreferenceData | None = None,
        progress_bar: bool = False,
        callback: Callable[[float], None] | None = None,
    ) -> TrainReport:
        """Train for ``epochs`` passes over ``data`` (reshuffled each epoch).

        ``progress_bar`` shows a bar over the epochs; ``callback`` gets each epoch's mean
        preference loss. The net trains in training mode (spectral norm's power iteration
        runs) and is returned in the mode it came in.
        """
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        seg = self._tensors(data)
        pairs = th.as_tensor(data.pairs, device=self.net.device)
        labels = th.as_tensor(data.labels, dtype=th.float32, device=self.net.device)
        probe = self.lipschitz_sample(data)
        report = TrainReport()
        was_training = self.net.training
        self.net.train()
        with progress(progress_bar, epochs, "reward model", "epoch") as bar:
            for _ in range(epochs):
                start = time.perf_counter()
                loss, penalty = self._epoch(seg, pairs, labels)
                report.seconds += time.perf_counter() - start
                report.losses.append(loss)
                report.penalties.append(penalty)
                with self.net.serving():
                    report.lipschitz.append(self.lipschitz(probe))
                bar.update(1)
                if callback is not None:
                    callback(report.losses[-1])
        self.net.train(was_training)
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
        with net.serving():
            report.lipschitz_normalized = trainer.lipschitz(trainer.lipschitz_sample(train))
    return report
