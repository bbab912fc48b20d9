"""Occupancy-measure penalties for ORPO and closed-form action-distribution divergences.

Pure maths, no RL plumbing. ORPO (Laidlaw, Singhal & Dragan 2024, "Correlated Proxies")
trains a discriminator ``d(s, a) ~= log(mu_pi(s, a) / mu_ref(s, a))`` and turns it into a
per-step reward penalty (their Sec. 4 and reference code, PAPERS.md):

- ``kl``: ``d``                                   (E_pi[d] estimates KL(mu_pi || mu_ref))
- ``chi2``: ``exp(d) - 1``                        (E_pi[exp(d)] - 1 = chi^2(mu_pi || mu_ref))
- ``sqrt_chi2``: ``(exp(d) - 1) / sqrt(chi2_hat)`` with ``chi2_hat`` the 1%-trimmed batch
  mean of ``exp(d) - 1`` (not divided when ``chi2_hat <= 0``): the gradient of
  ``sqrt(chi^2)``, the divergence in ORPO's objective
- ``tv``: ``sign(d)``

Non-finite penalties become 0. A reward clip bounds the *penalty term* ``coef * penalty``
to ``[-clip, clip]``, never the proxy reward itself (the reference's
``discriminator_reward_clip``). The action-distribution baseline regularises
``KL(pi(.|s) || pi_ref(.|s))`` (or chi^2) in closed form for categorical and diagonal
Gaussian policies; where the Gaussian chi^2 diverges the reference optimises the KL instead
(:func:`gaussian_chi2_or_kl`).
"""

from __future__ import annotations

import math

import torch as th

DIVERGENCES = ("kl", "chi2", "sqrt_chi2", "tv")


def check_divergence(name: str) -> str:
    if name not in DIVERGENCES:
        raise ValueError(f"unknown divergence {name!r}; allowed: {list(DIVERGENCES)}")
    return name


def trimmed_mean(x: th.Tensor, trim: float = 0.01) -> th.Tensor:
    """Mean of ``x`` without its ``trim`` fraction of smallest and of largest values.

    Differs from the reference on small batches, on purpose: its ``sorted[i:-i]`` with
    ``i = int(0.01 * n)`` is empty (mean nan) for ``n < 100``; here nothing is trimmed then.
    """
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim!r}")
    flat = x.reshape(-1).sort().values
    k = int(math.floor(trim * flat.numel()))
    return flat[k : flat.numel() - k].mean()


def occupancy_penalty(logits: th.Tensor, divergence: str, trim: float = 0.01) -> th.Tensor:
    """Per-sample penalty from discriminator outputs ``d = log(mu_pi / mu_ref)``, shape (n,)."""
    check_divergence(divergence)
    if divergence == "kl":
        penalty = logits
    elif divergence == "tv":
        penalty = th.sign(logits)
    else:
        penalty = th.expm1(logits)
        if divergence == "sqrt_chi2":
            chi2_hat = trimmed_mean(penalty[th.isfinite(penalty)], trim)
            if chi2_hat > 0:
                penalty = penalty / th.sqrt(chi2_hat)
    return th.where(th.isfinite(penalty), penalty, th.zeros_like(penalty))


def chi2_estimate(logits: th.Tensor, trim: float = 0.01) -> th.Tensor:
    """``chi^2(mu_pi || mu_ref)`` estimated from ``d`` on samples of mu_pi (trimmed mean of
    ``exp(d) - 1``)."""
    values = th.expm1(logits)
    return trimmed_mean(values[th.isfinite(values)], trim)


def penalised_reward(
    reward: th.Tensor, penalty: th.Tensor, coef: float, clip: float | None = None
) -> th.Tensor:
    """``reward - coef * penalty``, the penalty term clipped to ``[-clip, clip]`` when
    ``clip`` is given.

    Only the penalty is clipped, as in the reference (``orpo.py``: the discriminator reward
    ``-coef * d`` is clipped to ``discriminator_reward_clip``, then added to the proxy
    reward), so a clip never truncates the task reward.
    """
    if not math.isfinite(coef) or coef < 0:
        raise ValueError(f"coef must be a finite number >= 0, got {coef!r}")
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a finite number > 0 or None, got {clip!r}")
    term = coef * penalty
    return reward - (term if clip is None else term.clamp(-clip, clip))


def categorical_kl(logits_p: th.Tensor, logits_q: th.Tensor) -> th.Tensor:
    """``KL(p || q)`` per row for categorical distributions given by logits, shape (n,)."""
    log_p, log_q = th.log_softmax(logits_p, -1), th.log_softmax(logits_q, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def categorical_chi2(logits_p: th.Tensor, logits_q: th.Tensor) -> th.Tensor:
    """``chi^2(p || q) = sum_a p(a)^2 / q(a) - 1`` per row, shape (n,)."""
    log_p, log_q = th.log_softmax(logits_p, -1), th.log_softmax(logits_q, -1)
    return th.exp(2 * log_p - log_q).sum(-1) - 1


def gaussian_kl(mu_p: th.Tensor, std_p: th.Tensor, mu_q: th.Tensor, std_q: th.Tensor) -> th.Tensor:
    """``KL(N(mu_p, diag std_p^2) || N(mu_q, diag std_q^2))`` per row, shape (n,)."""
    var_p, var_q = std_p.pow(2), std_q.pow(2)
    per_dim = th.log(std_q / std_p) + (var_p + (mu_p - mu_q).pow(2)) / (2 * var_q) - 0.5
    return per_dim.sum(-1)


def gaussian_chi2(
    mu_p: th.Tensor, std_p: th.Tensor, mu_q: th.Tensor, std_q: th.Tensor
) -> th.Tensor:
    """``chi^2(p || q)`` for diagonal Gaussians, per row; infinite where some
    ``2 var_q <= var_p`` (the integral diverges).

    Per dimension, ``int p^2 / q = var_q / (std_p sqrt(2 var_q - var_p))
    * exp((mu_p - mu_q)^2 / (2 var_q - var_p))``, and dimensions multiply.
    """
    var_p, var_q = std_p.pow(2), std_q.pow(2)
    denom = 2 * var_q - var_p
    log_terms = (
        th.log(var_q) - th.log(std_p) - 0.5 * th.log(denom.clamp(min=1e-30))
        + (mu_p - mu_q).pow(2) / denom
    )  # fmt: skip
    value = th.exp(log_terms.sum(-1)) - 1
    return th.where((denom > 0).all(-1), value, th.full_like(value, float("inf")))


# Above this log(1 + chi^2) the value overflows float32 and its gradient turns to nan.
_MAX_LOG_CHI2 = 80.0


def gaussian_chi2_or_kl(
    mu_p: th.Tensor, std_p: th.Tensor, mu_q: th.Tensor, std_q: th.Tensor
) -> th.Tensor:
    """The Gaussian chi^2 where it is finite, ``KL(p || q)`` where it diverges; per row.

    The reference's convention (``orpo.py``, ``ORPOPolicy.loss``): a state where
    ``var_p >= 2 var_q`` in some dimension, exactly where the policy drifted most, is not
    ignored but pulled back by the KL. The chi^2 branch is evaluated only on the rows where
    it is finite, so gradients stay finite everywhere.
    """
    var_p, var_q = std_p.pow(2), std_q.pow(2)
    denom = 2 * var_q - var_p
    ok_dims = denom > 0
    safe = th.where(ok_dims, denom, th.ones_like(denom))
    log_terms = (
        th.log(var_q) - th.log(std_p) - 0.5 * th.log(safe) + (mu_p - mu_q).pow(2) / safe
    ).sum(-1)
    finite = ok_dims.all(-1) & (log_terms < _MAX_LOG_CHI2)
    chi2 = th.expm1(th.where(finite, log_terms, th.zeros_like(log_terms)))
    return th.where(finite, chi2, gaussian_kl(mu_p, std_p, mu_q, std_q))


def categorical_chi2_or_kl(logits_p: th.Tensor, logits_q: th.Tensor) -> th.Tensor:
    """Categorical chi^2 with the same KL fallback where it is not finite (a reference
    probability near 0 under a policy probability > 0), per row; finite gradients."""
    log_p, log_q = th.log_softmax(logits_p, -1), th.log_softmax(logits_q, -1)
    log_one_plus = th.logsumexp(2 * log_p - log_q, -1)  # log sum p^2 / q
    finite = th.isfinite(log_one_plus) & (log_one_plus < _MAX_LOG_CHI2)
    chi2 = th.expm1(th.where(finite, log_one_plus, th.zeros_like(log_one_plus)))
    return th.where(finite, chi2, categorical_kl(logits_p, logits_q))
