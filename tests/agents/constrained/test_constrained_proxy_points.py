"""Proxy points from synthetic (component, gold) data with known peaks."""

import numpy as np
import pytest

from advrl.agents.constrained.proxy_points import find_proxy_points


def test_joint_peak_of_a_concave_surface():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 4, size=(200, 2))
    gold = 5 - (x[:, 0] - 1) ** 2 - 2 * (x[:, 1] - 2) ** 2
    pp = find_proxy_points(x, gold, ["a", "b"])
    assert pp.values == pytest.approx([1.0, 2.0])
    assert pp.gold == pytest.approx(5.0)
    assert pp.as_dict() == pytest.approx({"a": 1.0, "b": 2.0})


def test_correlated_components_move_the_marginal_point_off_the_joint_one():
    # gold = -(a - 2)^2 - (b - 1)^2 peaks at (2, 1); with b = a + noise, gold against a alone
    # is -(a - 2)^2 - (a - 1)^2 - noise, which peaks at a = 1.5 (the paper's point: the
    # components' correlation moves the proxy points)
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 4, 400)
    b = a + rng.normal(0, 0.3, 400)
    gold = -((a - 2) ** 2) - (b - 1) ** 2
    joint = find_proxy_points(np.column_stack([a, b]), gold, ["a", "b"])
    marginal = find_proxy_points(np.column_stack([a, b]), gold, ["a", "b"], joint=False)
    assert joint.values == pytest.approx([2.0, 1.0], abs=1e-6)
    assert marginal.values[0] == pytest.approx(1.5, abs=0.05)


def test_monotone_gold_peaks_at_the_edge_of_the_data():
    x = np.linspace(0, 5, 11)[:, None]
    assert find_proxy_points(x, 2 * x[:, 0], ["a"]).values == pytest.approx([5.0])


def test_never_extrapolates_past_the_data():
    x = np.linspace(0, 2, 9)[:, None]  # the parabola peaks at 3, outside the data
    assert find_proxy_points(x, -((x[:, 0] - 3) ** 2), ["a"]).values == pytest.approx([2.0])


def test_bad_inputs():
    x, g = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(ValueError, match="1 names"):
        find_proxy_points(x, g, ["a"])
    with pytest.raises(ValueError, match=r"shape \(n, k\)"):
        find_proxy_points(x, g[:5], ["a", "b"])
    with pytest.raises(ValueError, match="at least 6 observations"):
        find_proxy_points(x[:3], g[:3], ["a", "b"])
    with pytest.raises(ValueError, match="finite"):
        find_proxy_points(np.full((10, 2), np.nan), g, ["a", "b"])
