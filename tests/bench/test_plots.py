"""Every report figure reads at a glance: labelled axes, markers, one legend, spread over
seeds and episodes, and a title naming the env, the episodes and the seeds.

The figures are the matplotlib objects the reports save, built from small fake stores.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection

from advrl.bench import Cell, ResultsStore, rows
from advrl.bench.cheap_talk import CheapTalkCell, cheap_talk_figure
from advrl.bench.hacking import HackingCell, hacking_figure
from advrl.bench.leaderboard_report import leaderboard_figure
from advrl.bench.overoptimization import OveroptCell
from advrl.bench.overoptimization_report import overoptimization_figure
from advrl.bench.plotting import REFERENCE, Panels
from advrl.bench.report import returns_figure
from advrl.bench.robustness import RobustnessCell, robustness_figure
from advrl.bench.smoothing import SmoothingCell, certificate_figure

SEEDS = {"one seed": [0], "two seeds": [0, 1]}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def check_figure(fig, *, env: str, episodes: str, seeds: int, spread: bool = True):
    """The rules every report figure keeps (``spread``: it must show error bars or bands)."""
    title = fig.get_suptitle()
    assert env in title, title
    assert episodes in title, title
    assert f"{seeds} seed" in title, title
    assert len(fig.legends) == 1, "one legend per figure"
    for ax in fig.axes:
        assert ax.get_legend() is None, f"a legend on the panel {ax.get_title()!r}"
        assert ax.get_ylabel(), f"no y-label on the panel {ax.get_title()!r}"
        assert ax.get_xlabel(), f"no x-label on the panel {ax.get_title()!r}"
        for line in ax.get_lines():
            if line.get_gid() != REFERENCE:
                assert line.get_marker() not in (None, "None", "", " "), (
                    f"a line without markers ({line.get_label()!r}) on {ax.get_title()!r}"
                )
    if spread:
        collections = [c for ax in fig.axes for c in ax.collections]
        assert any(isinstance(c, LineCollection | PolyCollection) for c in collections), (
            "no error bars or bands"
        )


def _attack_result(mean, std=5.0, episodes=4):
    return {"mean_return": float(mean), "std_return": std, "mean_attack_norm": 0.1,
            "max_attack_norm": 0.2, "steps": 10, "seconds": 0.1, "episodes": episodes}  # fmt: skip


@pytest.mark.parametrize("seeds", SEEDS.values(), ids=SEEDS.keys())
def test_returns_vs_eps(tmp_path, seeds):
    store = ResultsStore(tmp_path)
    for seed in seeds:
        for policy in ("ppo-cartpole", "ppo-cartpole-sappo"):
            store.put(Cell(policy, "CartPole-v1", "none", 0.0, seed, episodes=4),
                      _attack_result(100 + seed))  # fmt: skip
            store.put(Cell(policy, "CartPole-v1", "pgd", 0.2, seed, episodes=4),
                      _attack_result(50 + 10 * seed))  # fmt: skip
    fig = returns_figure(rows(tmp_path))
    check_figure(fig, env="CartPole-v1", episodes="4 episodes", seeds=len(seeds))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["pgd", "clean"]  # not twice
    (pgd, *_) = fig.axes[0].containers
    _, caps, (bars,) = pgd
    low, high = bars.get_segments()[1][:, 1]  # the error bar at eps = 0.2
    want = 5.0 if len(seeds) == 1 else np.sqrt(25 + 25)  # episodes' std, plus seeds' spread
    assert (high - low) / 2 == pytest.approx(want)


def test_a_single_point_is_visible():
    panels = Panels(1)
    panels.line(0, [0.1], [3.0], "pgd")
    (line,) = panels.axes[0].get_lines()
    assert line.get_marker() == "o" and len(line.get_xdata()) == 1


@pytest.mark.parametrize("seeds", SEEDS.values(), ids=SEEDS.keys())
def test_leaderboard(tmp_path, seeds):
    store = ResultsStore(tmp_path)
    for seed in seeds:
        for policy, env in (("ppo-hopper", "Hopper-v5"), ("ppo-walker2d", "Walker2d-v5")):
            store.put(Cell(policy, env, "none", 0.0, seed, episodes=3), _attack_result(3000))
            store.put(Cell(policy, env, "pgd", 0.05, seed, episodes=3),
                      _attack_result(1000 + 100 * seed))  # fmt: skip
    fig = leaderboard_figure(tmp_path)
    check_figure(fig, env="Hopper-v5", episodes="3 episodes", seeds=len(seeds))
    assert "Walker2d-v5" in " ".join(ax.get_title() for ax in fig.axes)
    _, _, (bars,) = fig.axes[0].containers[1]  # worst case
    low, high = bars.get_segments()[0][:, 1]
    assert high - low == pytest.approx(10.0 if len(seeds) == 1 else 100.0)  # ± std, or range


def _curve(points, value, scale=1.0):
    return [[100.0 * (k + 1), value + k * scale, 2 * value] for k in range(points)]


def _hacking_store(tmp_path, seeds, spread=True):
    store = ResultsStore(tmp_path)
    for seed in seeds:
        for method in ("ppo", "orpo"):
            cell = HackingCell("advrl/Tomato-v0", method, "chi2" if method == "orpo" else "none",
                               0.1 if method == "orpo" else 0.0, seed, steps=2000)  # fmt: skip
            result = {"mean_return": 1.0, "final_true": 1.0, "final_proxy": 2.0,
                      "reference_true": 3.0, "episodes": 20,
                      "curve": _curve(10, 1.0 + seed)}  # fmt: skip
            if spread:  # stores since the std over each point's episodes was recorded
                result["curve_std"] = [[0.5, 0.25]] * 10
            store.put(cell, result)


@pytest.mark.parametrize("seeds", SEEDS.values(), ids=SEEDS.keys())
def test_hacking(tmp_path, seeds):
    _hacking_store(tmp_path, seeds)
    fig = hacking_figure(tmp_path)
    check_figure(fig, env="Tomato-v0", episodes="20 training episodes", seeds=len(seeds))
    assert "2000 env steps" in fig.get_suptitle()
    bands = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # one per method
    vertices = bands[0].get_paths()[0].vertices
    at_first = vertices[vertices[:, 0] == 100.0, 1]  # the band's edges at the first point
    # One seed: the std over that point's episodes (0.5); two: over the seeds (1 and 2).
    assert (at_first.max() - at_first.min()) / 2 == pytest.approx(0.5)


def test_a_stored_curve_without_its_spread_draws_no_band(tmp_path):
    _hacking_store(tmp_path, [0], spread=False)
    fig = hacking_figure(tmp_path)
    check_figure(fig, env="Tomato-v0", episodes="20 training episodes", seeds=1, spread=False)
    assert not [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]


@pytest.mark.parametrize("seeds", SEEDS.values(), ids=SEEDS.keys())
def test_overoptimization(tmp_path, seeds):
    store = ResultsStore(tmp_path)
    for seed in seeds:
        for served in ("single", "mean"):
            store.put(OveroptCell("advrl/Tomato-v0", "ppo", served, seed=seed, steps=4096),
                      {"rm_held_out_accuracy": 0.7, "rm_held_out_clean_accuracy": 0.8,
                       "mean_return": 1.0, "peak_gold": 1.0, "final_gold": 1.0, "gold_drop": 0.0,
                       "final_proxy": 1.0, "curve": _curve(6, 1.0 + seed),
                       "curve_std": [[0.1, 0.2]] * 6})  # fmt: skip
        curves = {s: {"gold": [1.0 + seed, 2.0], "proxy": [1.0, 3.0]}
                  for s in ("single", "mean", "wco", "uwo")}  # fmt: skip
        store.put(OveroptCell("advrl/Tomato-v0", "bon", "all", seed=seed, episodes=16),
                  {"rm_held_out_accuracy": 0.7, "rm_held_out_clean_accuracy": 0.8,
                   "mean_return": 2.0, "n": [1, 16], "kl": [0.0, 1.8],
                   "curves": curves})  # fmt: skip
    fig = overoptimization_figure(tmp_path)
    check_figure(fig, env="Tomato-v0", episodes="pools of 16 episodes", seeds=len(seeds))
    assert len(fig.axes) == 4 and "4096 env steps" in fig.get_suptitle()


@pytest.mark.parametrize("seeds", SEEDS.values(), ids=SEEDS.keys())
def test_cheap_talk(tmp_path, seeds):
    store = ResultsStore(tmp_path)
    for seed in seeds:
        for method in ("none", "act-anti"):
            result = {"mean_return": 10.0, "std_return": 1.0, "returns": [10.0], "seconds": 1.0,
                      "curve": _curve(4, 10.0 + seed)[:2],
                      "curve_std": [[1.0], [2.0]]}  # fmt: skip
            if method == "act-anti":
                result["act_history"] = [{"return_mean": 5.0 + g + seed, "return_std": 1.0,
                                          "seconds": 1.0} for g in range(3)]  # fmt: skip
                result["act_seconds"] = 3.0
            store.put(CheapTalkCell(method, seed, victims=4, n_updates=2), result)
    fig = cheap_talk_figure(tmp_path)
    check_figure(fig, env="CartPole", episodes="8 greedy episodes", seeds=len(seeds))
    assert "4 victims per seed" in fig.get_suptitle()


@pytest.mark.parametrize("seeds", SEEDS.values(), ids=SEEDS.keys())
def test_certificate(tmp_path, seeds):
    store = ResultsStore(tmp_path)
    policy = "ppo-cartpole-smooth-sigma0.2"
    rng = np.random.default_rng(0)
    for seed in seeds:
        returns = rng.uniform(50, 100, 200).tolist()
        store.put(SmoothingCell(policy, 0.2, 0.0, 200, seed),
                  {"mean_return": float(np.mean(returns)), "returns": returns,
                   "horizon": 100})  # fmt: skip
        attacked = rng.uniform(40, 60, 10).tolist()
        store.put(SmoothingCell(policy, 0.2, 0.5, 10, seed, n_envs=10),
                  {"mean_return": float(np.mean(attacked)), "returns": attacked})  # fmt: skip
    fig = certificate_figure(tmp_path, [0.0, 0.5], method="dkw")
    check_figure(fig, env="SmoothedCartPole-v0", episodes="10 episodes per budget",
                 seeds=len(seeds))  # fmt: skip
    assert "200 episodes" in fig.get_suptitle() and len(fig.axes) == len(seeds)  # per seed


@pytest.mark.parametrize("seeds", SEEDS.values(), ids=SEEDS.keys())
def test_robustness_heatmap(tmp_path, seeds):
    store = ResultsStore(tmp_path)
    for seed in seeds:
        for mass in (0.5, 1.0):
            cell = RobustnessCell("m", "PPO", "m.zip", "InvertedPendulum-v5", mass, 1.0,
                                  episodes=3, seed=seed)  # fmt: skip
            store.put(cell, {"mean_return": 10.0 * mass, "returns": [9.0 * mass, 11.0 * mass,
                                                                    10.0 * mass]})  # fmt: skip
    fig = robustness_figure(tmp_path)
    title = fig.get_suptitle()
    assert "InvertedPendulum-v5" in title and "3 episodes" in title
    assert f"{len(seeds)} seed" in title
    heatmap, colour_bar = fig.axes  # a colour bar is a heatmap's one legend
    assert heatmap.get_xlabel() and heatmap.get_ylabel() and colour_bar.get_ylabel()
    texts = sorted(t.get_text() for t in heatmap.texts)
    assert texts == ["10\n±1", "5\n±0"]  # mean ± std over seeds and episodes, per grid point
