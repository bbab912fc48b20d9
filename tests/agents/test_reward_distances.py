"""EPIC and STARC on finite MDPs: invariances, pseudometric axioms and hand computations."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from advrl.agents.reward_models.distances import (
    epic_canonical,
    epic_distance,
    pearson_distance,
    policy_values,
    potential_shaping,
    starc_canonical,
    starc_distance,
)

# Action a moves to state a, from either state: the 2-state, 2-action MDP of the hand checks.
GO_TO = np.zeros((2, 2, 2))
GO_TO[:, 0, 0] = GO_TO[:, 1, 1] = 1.0


def indicator(fn) -> np.ndarray:
    """``R[s, a, s'] = fn(s, a, s')`` on the 2 x 2 x 2 MDP."""
    return np.array([[[float(fn(s, a, t)) for t in (0, 1)] for a in (0, 1)] for s in (0, 1)])


REACH_1 = indicator(lambda s, a, t: t == 1)  # paid for arriving in state 1
ACT_1 = indicator(lambda s, a, t: a == 1)  # paid for action 1
BOTH_1 = indicator(lambda s, a, t: s == 1 and a == 1)  # action 1 taken in state 1


def random_mdp(seed: int, n_states: int, n_actions: int):
    """A random reward pair, kernel, potential and distributions of one size."""
    rng = np.random.default_rng(seed)
    shape = (n_states, n_actions, n_states)
    return {
        "r1": rng.normal(size=shape),
        "r2": rng.normal(size=shape),
        "r3": rng.normal(size=shape),
        "kernel": rng.dirichlet(np.ones(n_states), size=(n_states, n_actions)),
        "potential": rng.normal(scale=5.0, size=n_states),
        "d_s": rng.dirichlet(np.ones(n_states)),
        "d_a": rng.dirichlet(np.ones(n_actions)),
        "coverage": rng.dirichlet(np.ones(math.prod(shape))).reshape(shape),
        "policy": rng.dirichlet(np.ones(n_actions), size=n_states),
    }


mdps = st.builds(
    random_mdp, st.integers(0, 2**32 - 1), st.integers(2, 5), st.integers(2, 3)
)  # fmt: skip
gammas = st.floats(0.0, 0.99)
scales = st.floats(0.01, 100.0)


@settings(max_examples=40, deadline=None)
@given(mdps, gammas, scales)
def test_shaped_and_scaled_rewards_are_at_distance_zero(m, gamma, scale):
    equivalent = potential_shaping(scale * m["r1"], m["potential"], gamma)
    epic = epic_distance(m["r1"], equivalent, gamma, m["coverage"], m["d_s"], m["d_a"])
    assert epic == pytest.approx(0.0, abs=1e-6)
    for canon in ("val", "val_potential", "epic"):
        starc = starc_distance(m["r1"], equivalent, m["kernel"], gamma, m["policy"], canon)
        assert starc == pytest.approx(0.0, abs=1e-6), canon
    # ...and a different reward is not (sanity: the checks above can fail)
    assert epic_distance(m["r1"], m["r2"], gamma, m["coverage"], m["d_s"], m["d_a"]) > 1e-3


@settings(max_examples=40, deadline=None)
@given(mdps, gammas)
def test_both_distances_are_symmetric_and_satisfy_the_triangle_inequality(m, gamma):
    def epic(x, y):
        return epic_distance(m[x], m[y], gamma, m["coverage"], m["d_s"], m["d_a"])

    def starc(x, y):
        return starc_distance(m[x], m[y], m["kernel"], gamma, m["policy"], weights=m["coverage"])

    for d, top in ((epic, 1.0), (starc, 2.0)):
        assert d("r1", "r2") == pytest.approx(d("r2", "r1"), abs=1e-12)
        assert d("r1", "r3") <= d("r1", "r2") + d("r2", "r3") + 1e-9
        assert 0.0 <= d("r1", "r2") <= top + 1e-9
        assert d("r1", "r1") == pytest.approx(0.0, abs=1e-7)


def test_epic_by_hand_on_two_states_and_two_actions():
    # With uniform D_S, D_A a reward of s' alone has E_{A,S'} R(x, A, S') = mu = 1/2 for
    # every x, so C(R) = R + gamma mu - mu - gamma mu = R - 1/2; likewise C(ACT_1) = ACT_1 - 1/2.
    assert epic_canonical(REACH_1, 0.9) == pytest.approx(REACH_1 - 0.5)
    # C(REACH_1) = +-1/2 by s', C(ACT_1) = +-1/2 by a: independent under the uniform
    # coverage, rho = 0, D = sqrt(1/2).
    assert epic_distance(REACH_1, ACT_1, 0.9) == pytest.approx(math.sqrt(0.5))
    # REACH_1 + ACT_1: rho = Var(C1) / (sd(C1) sqrt(Var(C1) + Var(C2))) = 1 / sqrt(2), so
    # D = sqrt((1 - 1 / sqrt 2) / 2) = sin(pi / 8).
    assert epic_distance(REACH_1, REACH_1 + ACT_1, 0.9) == pytest.approx(math.sin(math.pi / 8))
    # D_A = (1/4, 3/4) and the product coverage D_S x D_A x D_S: C(ACT_1) = ACT_1 - 3/4 has
    # variance 3/16, C(REACH_1) 1/4; rho = (1/4) / sqrt(1/4 (1/4 + 3/16)) = 2 / sqrt(7).
    d_a = np.array([0.25, 0.75])
    coverage = np.einsum("s,a,t->sat", [0.5, 0.5], d_a, [0.5, 0.5])
    got = epic_distance(REACH_1, REACH_1 + ACT_1, 0.9, coverage, action_dist=d_a)
    assert got == pytest.approx(math.sqrt((1 - 2 / math.sqrt(7)) / 2))
    # Paid for being in state 1 = gamma x paid for arriving there, less the shaping
    # gamma [s' = 1] - [s = 1]: C = gamma (REACH_1 - 1/2), distance 0; at gamma = 0 it is
    # all shaping, C = 0, and EPIC is undefined.
    in_1 = indicator(lambda s, a, t: s == 1)
    assert epic_canonical(in_1, 0.5) == pytest.approx(0.5 * (REACH_1 - 0.5))
    assert epic_distance(in_1, REACH_1, 0.5) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="constant on the coverage"):
        epic_distance(in_1, REACH_1, 0.0)


def test_starc_by_hand_on_two_states_and_two_actions():
    # GO_TO, uniform pi, gamma = 1/2. REACH_1: r_pi = 1/2 everywhere, V = 1 (constant), so
    # c(s, a) = [a = 1] + gamma V - V = [a = 1] - 1/2.
    gamma = 0.5
    assert policy_values(REACH_1, GO_TO, gamma) == pytest.approx([1.0, 1.0])
    c1 = starc_canonical(REACH_1, GO_TO, gamma)
    assert c1[:, :, 0] == pytest.approx(np.array([[-0.5, 0.5], [-0.5, 0.5]]))
    # BOTH_1: r_pi(s) = [s = 1] / 2; m = (V0 + V1) / 2 = 1/4 + gamma m, so m = 1/2 and
    # V(s) = [s = 1] / 2 + gamma m = [s = 1] / 2 + 1/4, V = (1/4, 3/4).
    assert policy_values(BOTH_1, GO_TO, gamma) == pytest.approx([0.25, 0.75])
    # c(s, a) = [s = 1][a = 1] + gamma V(a) - V(s): (0,0) -1/8, (0,1) 1/8, (1,0) -5/8, (1,1) 5/8.
    c3 = starc_canonical(BOTH_1, GO_TO, gamma)
    assert c3[:, :, 1] == pytest.approx(np.array([[-1, 1], [-5, 5]]) / 8)
    # Weights 1/4 per (s, a) on s' = a: n(c1) = 1/2, n(c3) = sqrt(52 / 256) = sqrt(13) / 8,
    # so s1 = (-1, 1, -1, 1), s3 = (-1, 1, -5, 5) / sqrt(13), <s1, s3> = 3 / sqrt(13) and
    # ||s1 - s3||^2 = 2 - 2 <s1, s3> = 2 - 6 / sqrt(13).
    assert starc_distance(REACH_1, BOTH_1, GO_TO, gamma) == pytest.approx(
        math.sqrt(2 - 6 / math.sqrt(13))
    )
    # Opposite rewards sit at the diameter: s(-R) = -s(R), ||2 s(R)|| = 2.
    assert starc_distance(REACH_1, -REACH_1, GO_TO, gamma) == pytest.approx(2.0)
    # L1 norm and metric: n1(c1) = 1/2, n1(c3) = (1 + 1 + 5 + 5) / 32 = 3/8, s3 = c3 * 8/3;
    # |s1 - s3| per (s, a): 2/3, 2/3, 2/3, 2/3, averaged: 2/3.
    assert starc_distance(REACH_1, BOTH_1, GO_TO, gamma, norm=1) == pytest.approx(2 / 3)


def test_val_removes_next_state_redistribution_and_val_potential_does_not():
    m = random_mdp(3, 4, 2)
    # X has E_{S' ~ T(s, a)} X(s, a, S') = 0: it moves reward between next states only
    noise = np.random.default_rng(0).normal(size=m["r1"].shape)
    x = noise - np.einsum("sat,sat->sa", m["kernel"], noise)[:, :, None]
    moved = m["r1"] + x
    assert starc_distance(m["r1"], moved, m["kernel"], 0.9) == pytest.approx(0.0, abs=1e-7)
    assert starc_distance(m["r1"], moved, m["kernel"], 0.9, canonicalisation="val_potential") > 0.1


def test_weights_and_policy_change_starc_but_not_its_zeros():
    m = random_mdp(7, 3, 2)
    base = starc_distance(m["r1"], m["r2"], m["kernel"], 0.9)
    assert starc_distance(m["r1"], m["r2"], m["kernel"], 0.9, weights="uniform") != base
    assert starc_distance(m["r1"], m["r2"], m["kernel"], 0.9, policy=m["policy"]) != base
    assert starc_distance(m["r1"], m["r2"], m["kernel"], 0.9, norm=math.inf) > 0


def test_a_reward_equivalent_to_zero_standardises_to_zero_in_starc():
    m = random_mdp(1, 3, 2)
    pure_shaping = potential_shaping(np.zeros_like(m["r1"]), m["potential"], 0.9)
    # s(shaping) = 0, so the distance is n(s(R)) = 1 for any other reward
    assert starc_distance(pure_shaping, m["r1"], m["kernel"], 0.9) == pytest.approx(1.0)


def test_pearson_distance_matches_the_correlation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    rho = np.corrcoef(x, y)[0, 1]
    assert pearson_distance(x, y) == pytest.approx(math.sqrt((1 - rho) / 2))
    assert pearson_distance(x, 3 * x + 7) == pytest.approx(0.0, abs=1e-7)


R = np.zeros((2, 2, 2))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: epic_distance(np.zeros((2, 2)), R, 0.9), r"shape \(n_states, n_actions"),
        (lambda: epic_distance(np.zeros((2, 2, 3)), R, 0.9), r"shape \(n_states, n_actions"),
        (lambda: epic_distance(R, np.zeros((3, 2, 3)), 0.9), "shapes differ"),
        (lambda: epic_distance(R, R + np.nan, 0.9), "non-finite"),
        (lambda: epic_distance(REACH_1, ACT_1, -0.1), r"gamma must be a number in \[0, 1\]"),
        (lambda: epic_distance(REACH_1, ACT_1, 1.5), r"gamma must be a number in \[0, 1\]"),
        (lambda: epic_distance(REACH_1, ACT_1, math.nan), "gamma must be"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO, 1.0), r"gamma must be a number in \[0, 1\)"),
        (lambda: epic_distance(REACH_1, ACT_1, 0.9, state_dist=[0.5, 0.6]), "sum to 1"),
        (lambda: epic_distance(REACH_1, ACT_1, 0.9, action_dist=[1.5, -0.5]), "non-negative"),
        (lambda: epic_distance(REACH_1, ACT_1, 0.9, state_dist=[1.0]), r"shape \(2,\)"),
        (lambda: epic_distance(REACH_1, ACT_1, 0.9, coverage=np.ones(8)), r"shape \(2, 2, 2\)"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO * 2, 0.9), "sum to 1"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO[:1], 0.9), "transitions must have"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO, 0.9, canonicalisation="min"),
         "unknown canonicalisation 'min'"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO, 0.9, norm=0.5), "norm must be"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO, 0.9, metric=0), "metric must be"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO, 0.9, weights="tau"), "weights must be"),
        (lambda: starc_distance(REACH_1, ACT_1, GO_TO, 0.9, policy=np.ones((2, 2))),
         "policy must have shape"),
        (lambda: potential_shaping(R, np.zeros(3), 0.9), r"potential must have shape \(2,\)"),
        (lambda: pearson_distance(np.zeros(3), np.arange(3.0)), "constant on the coverage"),
    ],
)  # fmt: skip
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
