"""Reward distances on a finite MDP, exactly: EPIC (Gleave et al. 2021) and STARC (Skalse et
al. 2024). Reward nets on continuous spaces: :mod:`.distances_sampled`.

A reward is an array ``R[s, a, s']`` of shape ``(n_states, n_actions, n_states)``; a transition
kernel ``T[s, a, s']`` has the same shape and rows ``T[s, a, :]`` that sum to 1. Both
distances are 0 exactly when two rewards differ by potential shaping
``gamma * Phi(s') - Phi(s)`` and a positive scale (on the distributions they are taken
under), and both are pseudometrics (symmetric, triangle inequality).

**EPIC** ("Quantifying Differences in Reward Functions", ICLR 2021, Sec. 4). The canonically
shaped reward, with ``S, S' ~ D_S`` and ``A ~ D_A`` independent,

    ``C(R)(s, a, s') = R(s, a, s') + E[gamma R(s', A, S') - R(s, A, S') - gamma R(S, A, S')]``,

and the Pearson distance under a coverage distribution ``D`` over transitions,

    ``D_EPIC(R1, R2) = sqrt((1 - rho_D(C(R1), C(R2))) / 2)``, in ``[0, 1]``.

**STARC** ("STARC: A General Framework For Quantifying Differences Between Reward
Functions", ICLR 2024, Sec. 3): ``d(R1, R2) = m(s(R1), s(R2))`` with the standardised reward
``s(R) = c(R) / n(c(R))`` (0 when ``n(c(R)) = 0``), built from three parts:

- ``c``, a canonicalisation (``canonicalisation=``): ``"val"``, value-adjusted levelling
  ``c(R)(s, a, s') = E_{S' ~ T(s, a)}[R(s, a, S') - V^pi(s) + gamma V^pi(S')]`` (the
  paper's ``c_VAL``; it also removes ``S'``-redistribution, changes of ``R`` that keep
  ``E_{S'} R(s, a, S')``); ``"val_potential"``, the same without the expectation,
  ``R(s, a, s') - V^pi(s) + gamma V^pi(s')`` (removes potential shaping only); ``"epic"``,
  EPIC's ``C`` under ``D_S``, ``D_A``. ``V^pi`` is solved exactly,
  ``V = (I - gamma P_pi)^-1 r_pi``, for a fixed policy ``pi`` (default uniform).
- ``n``, a weighted ``L_p`` norm ``(sum_x w(x) |v(x)|^p)^(1/p)`` (``norm=p``; ``inf``: the
  max of ``|v|`` where ``w > 0``).
- ``m``, the ``L_q`` distance ``n_q(x - y)`` under the same weights (``metric=q``; default
  ``q = p``, the metric the norm induces). With ``m`` induced by ``n`` the distance lies in
  ``[0, 2]``; ``d(R, -R) = 2``.

Defaults, and where they differ from the authors' code (HumanCompatibleAI/evaluating-rewards
for EPIC, lucyfarnik/starc for STARC):

- EPIC: ``D_S``, ``D_A`` and the coverage default to uniform, as in ``tabular.py``;
  ``gamma`` may be 1 (the same formula serves the undiscounted finite-horizon case, as
  there). A canonical reward that is constant on the coverage has no Pearson correlation:
  the reference returns NaN, this module raises ``ValueError``.
- STARC: ``pi`` uniform, ``c_VAL``, ``L2`` norm and metric, weights
  ``T(s, a, s') / (n_states n_actions)`` (uniform over ``(s, a)``): the authors'
  ``Value`` canonicalisation with their ``weighted_2`` norm and distance. Their weights are
  ``T`` itself; the constant factor cancels in ``m(s(R1), s(R2))``. ``weights="uniform"``
  (every ``(s, a, s')`` alike) gives their unweighted norms, likewise up to a constant.
  Their weighted ``L_inf`` is ``max |v| T``; here it is the max over the support. ``V^pi``
  is a linear solve here, value iteration to ``1e-8`` there. ``gamma`` must be below 1.
"""

from __future__ import annotations

import math

import numpy as np

CANONICALISATIONS = ("val", "val_potential", "epic")
# A canonical reward whose spread (EPIC) or norm (STARC) is below this fraction of the raw
# rewards' magnitude is cancellation noise: the reward is equivalent to zero.
RELATIVE_ZERO = 1e-10


def check_gamma(gamma: float, allow_one: bool = False) -> float:
    """``gamma`` as a float, or a ``ValueError`` unless it is in ``[0, 1)`` (``[0, 1]`` with
    ``allow_one``)."""
    ok = isinstance(gamma, int | float | np.floating) and math.isfinite(gamma)
    if not ok or not (0 <= gamma < 1 or (allow_one and gamma == 1)):
        allowed = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"gamma must be a number in {allowed}, got {gamma!r}")
    return float(gamma)


def _reward(reward: np.ndarray, name: str = "reward") -> np.ndarray:
    r = np.asarray(reward, dtype=np.float64)
    if r.ndim != 3 or r.shape[0] != r.shape[2] or 0 in r.shape:
        raise ValueError(
            f"{name} must have shape (n_states, n_actions, n_states), got {np.shape(reward)}"
        )
    if not np.all(np.isfinite(r)):
        raise ValueError(f"{name} has non-finite entries")
    return r


def _pair(reward_a: np.ndarray, reward_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _reward(reward_a, "reward_a"), _reward(reward_b, "reward_b")
    if a.shape != b.shape:
        raise ValueError(f"the rewards' shapes differ: {a.shape} and {b.shape}")
    return a, b


def check_distribution(dist: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``dist`` as a float array of ``shape`` (uniform when None), or a ``ValueError`` unless
    it is non-negative and sums to 1."""
    if dist is None:
        return np.full(shape, 1.0 / math.prod(shape))
    d = np.asarray(dist, dtype=np.float64)
    if d.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {d.shape}")
    if not np.all(np.isfinite(d)) or d.min() < 0 or not math.isclose(d.sum(), 1, abs_tol=1e-6):
        raise ValueError(f"{name} must be non-negative and sum to 1, got sum {d.sum()!r}")
    return d


def _kernel(transitions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    t = np.asarray(transitions, dtype=np.float64)
    if t.shape != shape:
        raise ValueError(f"transitions must have the rewards' shape {shape}, got {t.shape}")
    if not np.all(np.isfinite(t)) or t.min() < 0 or not np.allclose(t.sum(axis=2), 1, atol=1e-6):
        raise ValueError("transitions[s, a, :] must be non-negative and sum to 1 for every s, a")
    return t


def potential_shaping(reward: np.ndarray, potential: np.ndarray, gamma: float) -> np.ndarray:
    """``R(s, a, s') + gamma * Phi(s') - Phi(s)`` (Ng et al. 1999), same shape as ``reward``.

    Example:
        >>> R = np.zeros((2, 1, 2))
        >>> potential_shaping(R, np.array([0.0, 1.0]), gamma=0.5)[:, 0, :].tolist()
        [[0.0, 0.5], [-1.0, -0.5]]
    """
    r = _reward(reward)
    phi = np.asarray(potential, dtype=np.float64)
    if phi.shape != (r.shape[0],):
        raise ValueError(f"potential must have shape ({r.shape[0]},), got {phi.shape}")
    gamma = check_gamma(gamma, allow_one=True)
    return r + gamma * phi[None, None, :] - phi[:, None, None]


def epic_canonical(
    reward: np.ndarray,
    gamma: float,
    state_dist: np.ndarray | None = None,
    action_dist: np.ndarray | None = None,
) -> np.ndarray:
    """EPIC's canonically shaped reward ``C(R)`` (module docstring), shape of ``reward``.

    Args:
        reward: ``R[s, a, s']``.
        gamma: discount in ``[0, 1]``.
        state_dist: ``D_S``, shape ``(n_states,)`` (default uniform); both ``S`` and ``S'``.
        action_dist: ``D_A``, shape ``(n_actions,)`` (default uniform).

    Example:
        >>> R = np.zeros((2, 2, 2)); R[:, :, 1] = 1.0  # paid for reaching state 1
        >>> epic_canonical(R, 0.9)[0, 0].round(6).tolist()  # R - E[R(S')] = R - 1/2
        [-0.5, 0.5]
    """
    r = _reward(reward)
    gamma = check_gamma(gamma, allow_one=True)
    d_s = check_distribution(state_dist, (r.shape[0],), "state_dist")
    d_a = check_distribution(action_dist, (r.shape[1],), "action_dist")
    # E_{A, S'} R(x, A, S') for every state x: the potential EPIC shapes by
    expected = np.einsum("xat,a,t->x", r, d_a, d_s)
    total = d_s @ expected  # E R(S, A, S')
    return r + gamma * expected[None, None, :] - expected[:, None, None] - gamma * total


def _standardised(x: np.ndarray, w: np.ndarray, scale: float, name: str) -> np.ndarray:
    """``(x - mean) / std`` under weights ``w`` (flattened), or a ``ValueError`` if ``x`` is
    constant to within cancellation noise of ``scale``."""
    centred = x - w @ x
    std = math.sqrt(w @ centred**2)
    if std <= RELATIVE_ZERO * max(scale, np.abs(x).max()):
        raise ValueError(
            f"{name} is constant on the coverage after canonicalisation (equivalent to the zero "
            "reward there), so its Pearson correlation, and EPIC, is undefined"
        )
    return centred / std


def pearson_distance(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, scale: float = 0.0
) -> float:
    """``sqrt((1 - rho) / 2)`` for the Pearson correlation ``rho`` of ``x`` and ``y`` under
    ``weights`` (a distribution of their shape; default uniform), in ``[0, 1]``.

    ``scale``: the magnitude below which spread counts as cancellation noise is
    ``1e-10 * max(scale, max |x|)``; a constant ``x`` or ``y`` raises ``ValueError``.

    Example:
        >>> pearson_distance(np.array([0.0, 1.0]), np.array([0.0, 5.0]))
        0.0
        >>> pearson_distance(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
        1.0
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"need two arrays of one shape with >= 2 entries, got {x.shape}, "
                         f"{y.shape}")  # fmt: skip
    w = check_distribution(weights, x.shape, "weights").ravel()
    zx = _standardised(x.ravel(), w, scale, "the first reward")
    zy = _standardised(y.ravel(), w, scale, "the second reward")
    rho = min(1.0, max(-1.0, float(w @ (zx * zy))))  # rounding can leave [-1, 1]
    return math.sqrt((1.0 - rho) / 2.0)


def epic_distance(
    reward_a: np.ndarray,
    reward_b: np.ndarray,
    gamma: float,
    coverage: np.ndarray | None = None,
    state_dist: np.ndarray | None = None,
    action_dist: np.ndarray | None = None,
) -> float:
    """The EPIC distance (module docstring), exactly.

    Args:
        reward_a, reward_b: ``R[s, a, s']``, one shape.
        gamma: discount in ``[0, 1]``.
        coverage: ``D[s, a, s']``, the distribution the Pearson correlation is taken under
            (default uniform), e.g. the transition visitation of a policy.
        state_dist, action_dist: ``D_S``, ``D_A`` of the canonicalisation (default uniform).

    Example:
        >>> R = np.zeros((2, 2, 2)); R[:, :, 1] = 1.0
        >>> shaped = potential_shaping(3 * R, np.array([0.0, 5.0]), gamma=0.9)
        >>> round(epic_distance(R, shaped, gamma=0.9), 6)
        0.0
        >>> round(epic_distance(R, -R, gamma=0.9), 6)
        1.0
    """
    a, b = _pair(reward_a, reward_b)
    d = check_distribution(coverage, a.shape, "coverage")
    ca = epic_canonical(a, gamma, state_dist, action_dist)
    cb = epic_canonical(b, gamma, state_dist, action_dist)
    scale = max(np.abs(a).max(), np.abs(b).max())
    return pearson_distance(ca, cb, d, scale=scale)


def policy_values(
    reward: np.ndarray, transitions: np.ndarray, gamma: float, policy: np.ndarray | None = None
) -> np.ndarray:
    """``V^pi`` of ``reward``, exactly: ``(I - gamma P_pi)^-1 r_pi``, shape ``(n_states,)``.

    Args:
        reward: ``R[s, a, s']``.
        transitions: ``T[s, a, s']``.
        gamma: discount in ``[0, 1)``.
        policy: ``pi[s, a]``, rows summing to 1 (default uniform).

    Example:
        >>> T = np.zeros((1, 1, 1)) + 1.0  # one state that loops
        >>> policy_values(np.ones((1, 1, 1)), T, gamma=0.5).tolist()  # 1 / (1 - 0.5)
        [2.0]
    """
    r = _reward(reward)
    t = _kernel(transitions, r.shape)
    gamma = check_gamma(gamma)
    n_states, n_actions = r.shape[:2]
    if policy is None:
        pi = np.full((n_states, n_actions), 1.0 / n_actions)
    else:
        pi = np.asarray(policy, dtype=np.float64)
        if pi.shape != (n_states, n_actions) or not np.all(np.isfinite(pi)) or pi.min() < 0 or (
            not np.allclose(pi.sum(axis=1), 1, atol=1e-6)
        ):  # fmt: skip
            raise ValueError(f"policy must have shape ({n_states}, {n_actions}) with rows of "
                             "non-negative probabilities summing to 1")  # fmt: skip
    p_pi = np.einsum("sa,sat->st", pi, t)
    r_pi = np.einsum("sa,sat,sat->s", pi, t, r)
    return np.linalg.solve(np.eye(n_states) - gamma * p_pi, r_pi)


def starc_canonical(
    reward: np.ndarray,
    transitions: np.ndarray,
    gamma: float,
    policy: np.ndarray | None = None,
    canonicalisation: str = "val",
    state_dist: np.ndarray | None = None,
    action_dist: np.ndarray | None = None,
) -> np.ndarray:
    """STARC's canonical reward ``c(R)`` (module docstring), shape of ``reward``.

    ``"val"`` is constant along ``s'`` (it is an expectation over ``S' ~ T(s, a)``).
    ``state_dist`` / ``action_dist`` serve ``"epic"`` only.

    Example:
        >>> T = np.zeros((2, 2, 2)); T[:, 0, 0] = T[:, 1, 1] = 1.0  # action a goes to a
        >>> R = np.zeros((2, 2, 2)); R[:, :, 1] = 1.0
        >>> starc_canonical(R, T, 0.5)[:, :, 0].tolist()  # [a = 1] - 1/2
        [[-0.5, 0.5], [-0.5, 0.5]]
    """
    if canonicalisation not in CANONICALISATIONS:
        raise ValueError(f"unknown canonicalisation {canonicalisation!r}; allowed: "
                         f"{list(CANONICALISATIONS)}")  # fmt: skip
    r = _reward(reward)
    t = _kernel(transitions, r.shape)
    if canonicalisation == "epic":
        return epic_canonical(r, check_gamma(gamma), state_dist, action_dist)
    v = policy_values(r, t, gamma, policy)
    levelled = r - v[:, None, None] + gamma * v[None, None, :]
    if canonicalisation == "val_potential":
        return levelled
    expected = np.einsum("sat,sat->sa", t, levelled)
    return np.broadcast_to(expected[:, :, None], r.shape).copy()


def weighted_norm(values: np.ndarray, weights: np.ndarray, p: float = 2) -> float:
    """``(sum w |v|^p)^(1/p)``; for ``p = inf`` the max of ``|v|`` where ``w > 0``.

    Example:
        >>> weighted_norm(np.array([3.0, 4.0]), np.array([0.5, 0.5]))  # sqrt(12.5)
        3.5355339059327378
    """
    v = np.abs(np.asarray(values, dtype=np.float64))
    if math.isinf(p):
        support = np.asarray(weights) > 0
        return float(v[support].max()) if support.any() else 0.0
    return float((np.asarray(weights) * v**p).sum() ** (1.0 / p))


def _check_order(p: float, name: str) -> float:
    if not isinstance(p, int | float) or math.isnan(p) or p < 1:
        raise ValueError(f"{name} must be an L_p order >= 1 (math.inf allowed), got {p!r}")
    return float(p)


def starc_weights(weights: np.ndarray | str | None, transitions: np.ndarray) -> np.ndarray:
    """The norm's weights: None, ``T / (n_states n_actions)``; ``"uniform"``, every
    ``(s, a, s')`` alike; or a given distribution over transitions."""
    t = np.asarray(transitions, dtype=np.float64)
    if weights is None:
        return t / (t.shape[0] * t.shape[1])
    if isinstance(weights, str):
        if weights != "uniform":
            raise ValueError(f"weights must be None, 'uniform' or an array, got {weights!r}")
        return check_distribution(None, t.shape, "weights")
    return check_distribution(weights, t.shape, "weights")


def starc_standardise(
    canonical: np.ndarray, weights: np.ndarray, norm: float = 2, scale: float = 0.0
) -> np.ndarray:
    """``s(R) = c(R) / n(c(R))``, or zeros when ``n(c(R))`` is below ``1e-10 * scale``
    (the paper's convention for rewards equivalent to 0)."""
    size = weighted_norm(canonical, weights, norm)
    if size <= RELATIVE_ZERO * max(scale, 0.0):
        return np.zeros_like(canonical)
    return canonical / size


def starc_distance(
    reward_a: np.ndarray,
    reward_b: np.ndarray,
    transitions: np.ndarray,
    gamma: float,
    policy: np.ndarray | None = None,
    canonicalisation: str = "val",
    norm: float = 2,
    metric: float | None = None,
    weights: np.ndarray | str | None = None,
) -> float:
    """A STARC distance (module docstring), exactly.

    Args:
        reward_a, reward_b: ``R[s, a, s']``, one shape.
        transitions: ``T[s, a, s']``.
        gamma: discount in ``[0, 1)``.
        policy: the fixed ``pi[s, a]`` of ``V^pi`` (default uniform).
        canonicalisation: ``"val"`` (default), ``"val_potential"`` or ``"epic"`` (with
            uniform ``D_S``, ``D_A``).
        norm: ``p`` of the normalising ``L_p`` norm (``math.inf`` allowed).
        metric: ``q`` of the ``L_q`` distance between standardised rewards (default ``p``).
        weights: the norm's and metric's weights (:func:`starc_weights`).

    Example:
        >>> T = np.zeros((2, 2, 2)); T[:, 0, 0] = T[:, 1, 1] = 1.0
        >>> R = np.zeros((2, 2, 2)); R[:, :, 1] = 1.0
        >>> shaped = potential_shaping(2 * R, np.array([1.0, -3.0]), gamma=0.5)
        >>> round(starc_distance(R, shaped, T, gamma=0.5), 6)
        0.0
        >>> round(starc_distance(R, -R, T, gamma=0.5), 6)
        2.0
    """
    a, b = _pair(reward_a, reward_b)
    t = _kernel(transitions, a.shape)
    gamma = check_gamma(gamma)
    p = _check_order(norm, "norm")
    q = p if metric is None else _check_order(metric, "metric")
    w = starc_weights(weights, t)
    scale = max(np.abs(a).max(), np.abs(b).max())
    sa, sb = (
        starc_standardise(starc_canonical(r, t, gamma, policy, canonicalisation), w, p, scale)
        for r in (a, b)
    )
    return weighted_norm(sa - sb, w, q)
