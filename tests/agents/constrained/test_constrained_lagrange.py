"""The multipliers' maths against hand computations."""

import numpy as np
import pytest

from advrl.agents.constrained.lagrange import (
    component_weights,
    logits_for,
    multiplier_gradient,
    multiplier_step,
    multipliers,
)


def test_multipliers_and_their_inverse():
    # sigmoid(log 3) = 3/4, so mu = 2 * 3/4; tanh(artanh 0.5) = 0.5
    assert multipliers(np.array([np.log(3.0)]), "upper", 2.0) == pytest.approx([1.5])
    assert multipliers(np.array([np.arctanh(0.5)]), "equal", 2.0) == pytest.approx([1.0])
    for sense, mu in (("upper", [0.1, 1.9]), ("equal", [-1.5, 0.3])):
        assert multipliers(logits_for(mu, sense, 2.0), sense, 2.0) == pytest.approx(mu)


def test_weights_are_one_minus_the_multipliers():
    assert component_weights(np.array([0.25, 2.0])).tolist() == [0.75, -1.0]


def test_gradient_by_hand():
    # z = log 3: sigmoid = 0.75, dmu/dz = 2 * 0.75 * 0.25 = 0.375; theta - v = 4 - 10 = -6
    g = multiplier_gradient(np.array([np.log(3.0)]), np.array([10.0]), np.array([4.0]))
    assert g == pytest.approx([-6 * 0.375])
    # equal, z = 0: dmu/dz = 2; v below theta by 1 -> +2
    assert multiplier_gradient(
        np.zeros(1), np.array([1.0]), np.array([2.0]), "equal"
    ) == pytest.approx([2.0])


def test_step_with_momentum_and_clip_by_hand():
    z, b = np.zeros(2), np.array([0.2, 0.0])
    # gradients (theta - v) * 0.5: [-(3) * 0.5, (1) * 0.5] = [-1.5, 0.5]; norm sqrt(2.5)
    z1, b1 = multiplier_step(
        z, b, np.array([4.0, 0.0]), np.array([1.0, 1.0]), lr=0.1, max_grad_norm=None
    )
    assert b1 == pytest.approx([0.1 * 0.2 - 1.5, 0.5])
    assert z1 == pytest.approx([-0.1 * (0.02 - 1.5), -0.05])
    _, b2 = multiplier_step(
        z, np.zeros(2), np.array([4.0, 0.0]), np.array([1.0, 1.0]), lr=0.1, max_grad_norm=1.0
    )
    assert np.linalg.norm(b2) == pytest.approx(1.0)
    assert b2 == pytest.approx(np.array([-1.5, 0.5]) / np.sqrt(2.5))


def test_multiplier_rises_above_threshold_and_falls_back_below():
    z, b = logits_for([0.05], "upper", 2.0), np.zeros(1)
    mus = []
    for ret in [10.0] * 20 + [-10.0] * 40:  # threshold 0: violated, then satisfied
        z, b = multiplier_step(z, b, np.array([ret]), np.zeros(1), lr=1.0)
        mus.append(float(multipliers(z)[0]))
    assert mus[19] > 1.5 > 0.05  # weight 1 - mu turned negative: pushes the component down
    assert mus[-1] < 0.1


def test_nan_return_means_no_gradient():
    z, b = multiplier_step(np.zeros(1), np.zeros(1), np.array([np.nan]), np.ones(1), lr=1.0)
    assert z.tolist() == [0.0]


@pytest.mark.parametrize(
    "kwargs", [dict(lr=-0.1), dict(lr=0.1, momentum=1.0), dict(lr=0.1, max_grad_norm=0.0)]
)
def test_bad_step_settings(kwargs):
    with pytest.raises(ValueError, match="learning rate|momentum|max_grad_norm"):
        multiplier_step(np.zeros(1), np.zeros(1), np.ones(1), np.ones(1), **kwargs)


def test_bad_sense_and_init():
    with pytest.raises(ValueError, match="unknown constraint sense 'lower'"):
        multipliers(np.zeros(1), "lower")
    with pytest.raises(ValueError, match=r"strictly in \(0, 2\)"):
        logits_for(0.0, "upper", 2.0)
