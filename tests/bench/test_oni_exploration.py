"""benchmarks/oni_exploration.py: a run without a finished episode is an error, not nan."""

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import NEEDS_NLE

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "oni_exploration.py"


@pytest.fixture(scope="module")
def oni():
    pytest.importorskip("nle", reason=NEEDS_NLE)
    spec = importlib.util.spec_from_file_location("oni_exploration", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_no_finished_episode_is_a_clear_error(oni):
    cell = oni.ExplorationCell("oni", 0, steps=64)
    with pytest.raises(ValueError, match=r"'oni' seed 0: 64 env steps .* finished no episode"):
        oni.summarize(cell, [])


def test_summary_is_over_the_second_half(oni):
    cell = oni.ExplorationCell("ext", 0, steps=100)
    stats = dict(messages=1, helpful=0, depth=1, score=0.0, length=10)
    episodes = [{**stats, "step": 10}, {**stats, "step": 90, "messages": 3, "depth": 2}]
    summary = oni.summarize(cell, episodes)
    assert summary["episodes_second_half"] == 1 and summary["max_depth_seen"] == 2
    assert summary["second_half_mean"]["messages"] == 3


def test_a_ratio_over_zero_says_so(oni):
    assert oni.ratio(3.0, 2.0) == "1.50x"
    assert oni.ratio(1.0, 0.0) == "n/a (ext is 0)"
