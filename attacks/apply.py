"""Apply an attack to batches of raw env observations (the engine of both wrappers)."""

from __future__ import annotations

from math import isfinite
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch as th

from advrl.attacks.balls import sample_norm
from advrl.attacks.base import check_attack
from advrl.attacks.noise import NoiseAttack
from advrl.policies import RawInputPolicy, check_policy
from advrl.types import AttackSpace, ObservationAttack, TorchPolicy

SPACES: tuple[AttackSpace, ...] = ("normalized", "raw")
NOISE_BLOCK = 256
"""Steps of victim-free noise drawn per generator call."""


def check_space(space: str) -> AttackSpace:
    if space not in SPACES:
        raise ValueError(f"unknown attack space {space!r}; allowed: {list(SPACES)}")
    return space  # type: ignore[return-value]  # narrowed by the check above


def check_seed(seed: object) -> int | None:
    """A seed is None or an int >= 0; wrappers own their generators, so none is accepted."""
    if seed is None:
        return None
    if isinstance(seed, th.Generator | np.random.Generator):
        raise TypeError(
            f"seed must be an int >= 0 or None, got a {type(seed).__name__}; the wrapper "
            "owns its generator, so pass the integer seed instead"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int >= 0 or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be an int >= 0 or None, got {seed!r}")
    return int(seed)


def victim_view(policy: TorchPolicy, space: AttackSpace) -> TorchPolicy:
    """The policy as the attack sees it: normalised inputs, or raw ones."""
    return RawInputPolicy(policy) if space == "raw" else policy


class AttackedBatch(NamedTuple):  # a NamedTuple: built on every env step, so kept cheap
    obs: np.ndarray
    """Perturbed raw observations, same shape and dtype as the clean ones."""
    norms: np.ndarray
    """Perturbation size per sample in the attack's space and norm, shape (batch,)."""


def _dot_finite(x: np.ndarray) -> bool:
    """True if ``x . x`` is finite, which means every value is (NaN and inf propagate); False
    can also mean finite values whose squares overflow."""
    flat = x if x.ndim == 1 else x.reshape(-1)
    return isfinite(flat.dot(flat))


def all_finite(x: np.ndarray) -> bool:
    """``np.isfinite(x).all()``, with a fast path: a finite dot product means finite values."""
    return _dot_finite(x) or bool(np.isfinite(x).all())


class ObservationAttacker:
    """Perturbs raw observation batches in the attack's space and hands raw ones back.

    The perturbation found in the policy's input space is mapped back to the raw space and
    added to the untouched clean observation (clean coordinates keep full precision), then
    clipped to the observation space's bounds so the env contract holds; ``norms`` measure
    what was applied. Victim-free noise is drawn ``NOISE_BLOCK`` steps at a time and mapped
    to raw units with the normaliser's per-coordinate scale (normalisers are elementwise
    affine), which keeps the per-step cost of noise attacks to a numpy add.
    """

    def __init__(
        self,
        attack: ObservationAttack,
        policy: TorchPolicy,
        obs_space: gym.Space,
        space: AttackSpace = "normalized",
        seed: int | None = None,
    ) -> None:
        attack, policy, seed = check_attack(attack), check_policy(policy), check_seed(seed)
        if not isinstance(obs_space, gym.spaces.Box):
            raise TypeError(f"observation attacks need a Box observation space, got {obs_space}")
        if tuple(policy.observation_space.shape) != tuple(obs_space.shape):
            raise ValueError(
                f"policy expects observations of shape {policy.observation_space.shape}, "
                f"the env emits {obs_space.shape}"
            )
        self.attack, self.policy, self.obs_space = attack, policy, obs_space
        self._obs_shape = tuple(obs_space.shape)
        self.view = victim_view(policy, check_space(space))
        # Raw units per unit of the attack's space (normalisers are elementwise affine).
        ones = th.ones((1, *obs_space.shape), device=policy.device)
        scale = self.view.unnormalize(ones) - self.view.unnormalize(th.zeros_like(ones))
        self._scale = scale[0].detach().cpu().double().numpy()
        self._check_representable(attack.eps)
        self.generator = th.Generator()
        self.bounded = bool(np.isfinite(obs_space.low).any() or np.isfinite(obs_space.high).any())
        # Pre-drawn noise: a stream of per-sample rows (raw units, env dtype) with their norms,
        # consumed in order, so a batch of any size (the terminal observations at episode ends,
        # then the full batch) takes the next rows instead of discarding the block.
        self._noise = np.empty((0, *obs_space.shape), obs_space.dtype)
        self._noise_norms = np.empty(0)
        # For single(): the rows as arrays and their norms as floats, ready to hand out.
        self._noise_rows: list[np.ndarray] = []
        self._noise_norm_values: list[float] = []
        self._next = 0
        # single()'s fast path takes pre-drawn rows below _fast_rows (noise on an unbounded
        # space needs no clipping, so its norms are the drawn ones).
        self._noise_fast_path = isinstance(attack, NoiseAttack) and not self.bounded
        self._fast_rows = 0
        self._flat = len(self._obs_shape) == 1
        self._widest = 1
        self._like = th.zeros(0)
        if seed is not None:
            self.reseed(seed)

    def _check_representable(self, eps: float) -> None:
        # Every attack keeps |delta| <= eps per coordinate in its space, so raw perturbations
        # stay below eps * scale; past the dtype's largest value they would be infinite.
        dtype = self.obs_space.dtype
        if not np.issubdtype(dtype, np.floating):
            return
        largest = float(eps) * float(np.abs(self._scale).max(initial=0.0))
        limit = float(np.finfo(dtype).max)
        if not largest < limit:
            raise ValueError(
                f"eps={eps!r} is too large: perturbations of up to {largest:.3g} raw units "
                f"overflow the observation dtype {np.dtype(dtype).name} "
                f"(largest finite value {limit:.3g})"
            )

    def reseed(self, seed: int) -> None:
        """Reseed the attack's generator from an env seed (the env's own RNG is untouched)
        and discard pre-drawn noise."""
        seed = check_seed(seed)  # type: ignore[assignment]  # None is handled by callers
        derived = np.random.SeedSequence([seed, 0xA77AC]).generate_state(1, np.uint64)[0]
        self.generator.manual_seed(int(derived >> 1))
        self._noise = self._noise[:0]
        self._noise_norms, self._next = self._noise_norms[:0], 0
        self._noise_rows, self._noise_norm_values, self._fast_rows = [], [], 0

    def single(self, raw_obs: np.ndarray) -> tuple[np.ndarray, float]:
        """Attack one observation ``raw_obs: shape obs_shape``: ``(perturbed, norm)``.

        Exactly row 0 of ``self(raw_obs[None])`` (same values, errors and noise stream), on
        a fast path where it can be: the single-env wrapper calls this every step, and on a
        ~30 us MuJoCo step the batch plumbing (a batch axis, a NamedTuple, two finite checks,
        numpy scalars) cost up to 20%. The fast path serves the pass-through (eps 0) and
        pre-drawn noise on unbounded spaces with one finite check and no torch; the rest
        (gradient attacks, clipping, a noise refill, a non-finite value to report) takes the
        batch path, and the fast path changes no state unless it succeeds.
        """
        if type(raw_obs) is np.ndarray and raw_obs.shape == self._obs_shape:
            if self.attack.eps == 0.0:
                flat = raw_obs if self._flat else raw_obs.reshape(-1)
                if isfinite(flat.dot(flat)):  # a finite dot product means finite values
                    return raw_obs, 0.0
            elif (i := self._next) < self._fast_rows:
                perturbed = raw_obs + self._noise_rows[i]
                if perturbed.dtype is not raw_obs.dtype:  # `is`: a cheap test, exact either way
                    perturbed = perturbed.astype(raw_obs.dtype, copy=False)
                # Noise rows are finite, so a finite sum means a finite raw_obs too: this one
                # check stands for both of the batch path's.
                flat = perturbed if self._flat else perturbed.reshape(-1)
                if isfinite(flat.dot(flat)):
                    self._next = i + 1
                    return perturbed, self._noise_norm_values[i]
        batch = self(raw_obs[None])
        return batch.obs[0], float(batch.norms[0])

    def __call__(self, raw_obs: np.ndarray) -> AttackedBatch:
        """Attack ``raw_obs: shape (batch, *obs_shape)`` as the env emits them."""
        if raw_obs.shape[1:] != self._obs_shape:
            raise ValueError(
                f"observation batch has shape {raw_obs.shape}; "
                f"expected (batch, *{self.obs_space.shape})"
            )
        if not all_finite(raw_obs):
            raise ValueError("observation contains NaN or infinite values; cannot attack it")
        if self.attack.eps == 0.0:
            return AttackedBatch(raw_obs, np.zeros(raw_obs.shape[0]))
        if isinstance(self.attack, NoiseAttack):
            delta_raw, norms = self._draw_noise(raw_obs.shape[0])
        else:
            delta_raw, norms = self._gradient_delta(raw_obs)
        perturbed = raw_obs + delta_raw
        if perturbed.dtype != raw_obs.dtype:
            perturbed = perturbed.astype(raw_obs.dtype)
        if not all_finite(perturbed):  # a finite eps can still overflow next to a huge obs
            raise ValueError(
                f"the perturbed observation is not finite (eps={self.attack.eps!r} added to "
                f"observations of dtype {perturbed.dtype.name}); use a smaller eps"
            )
        if self.bounded:
            perturbed = np.clip(perturbed, self.obs_space.low, self.obs_space.high)
            norms = self._applied_norms(raw_obs, perturbed)
        return AttackedBatch(perturbed, norms)

    def _draw_noise(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = self._next, self._next + batch
        if stop > len(self._noise):
            # Refill NOISE_BLOCK widest batches at once; leftover rows come first, in order.
            self._widest = max(self._widest, batch)
            rows = NOISE_BLOCK * self._widest
            # A refill runs between env steps, with cold caches, where each torch call costs
            # several us: keep the template, and use numpy where it is exact (abs and max
            # round nothing; l2 norms stay in torch, whose summation order they depend on).
            if self._like.shape[0] != rows:  # sample() reads only its shape and dtype
                self._like = th.zeros((rows, *self.obs_space.shape), dtype=th.float64)
            delta = self.attack.sample(self._like, self.generator)  # type: ignore[attr-defined]
            drawn = delta.numpy()
            if self.attack.norm == "linf":
                norms = np.abs(drawn.reshape(rows, -1)).max(axis=1, initial=0.0)
            else:
                norms = sample_norm(delta, self.attack.norm).numpy()
            raw = (drawn * self._scale).astype(self.obs_space.dtype, copy=False)
            if start < len(self._noise):  # leftover rows come first
                raw = np.concatenate([self._noise[start:], raw])
                norms = np.concatenate([self._noise_norms[start:], norms])
            self._noise, self._noise_norms = raw, norms
            if self._noise_fast_path:  # views made in one C loop, not one per step
                self._noise_rows, self._noise_norm_values = list(raw), norms.tolist()
                self._fast_rows = len(raw)
            start, stop = 0, batch
        self._next = stop
        return self._noise[start:stop], self._noise_norms[start:stop]

    def _gradient_delta(self, raw_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw_t = th.as_tensor(raw_obs, dtype=th.float32, device=self.policy.device)
        clean = self.view.normalize(raw_t)
        adv = self.attack(clean, self.view, self.generator)
        delta_raw = self.view.unnormalize(adv) - self.view.unnormalize(clean)
        norms = sample_norm(adv - clean, self.attack.norm).detach().cpu().double().numpy()
        return delta_raw.detach().cpu().numpy(), norms

    def _applied_norms(self, raw_obs: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
        device = self.policy.device
        clean = self.view.normalize(th.as_tensor(raw_obs, dtype=th.float32, device=device))
        final = self.view.normalize(th.as_tensor(perturbed, dtype=th.float32, device=device))
        return sample_norm(final - clean, self.attack.norm).cpu().double().numpy()
