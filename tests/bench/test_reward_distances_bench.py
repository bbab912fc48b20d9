"""`advrl bench reward-distances`: the cell (exact regrets on the enumerated tomato MDP), the
Spearman statistics against hand values, resume, and the report."""

import math

import numpy as np
import pytest

from advrl.bench.reward_distances import (
    PREDICTORS,
    RewardDistanceCell,
    regrets,
    reward_distances_suite,
    tomato_mdp,
)
from advrl.bench.reward_distances_report import spearman_with_ci, write_reward_distances_report
from advrl.bench.runner import run_suite
from advrl.cli import main


def test_the_truth_has_zero_regret_and_its_negation_the_largest():
    mdp, _, _, ref = tomato_mdp()
    assert len(mdp["next"]) == 107  # the reachable states of the 7x7 level
    truth = np.broadcast_to(mdp["true"], mdp["kernel"].shape)
    best = regrets(truth, mdp, ref)
    assert best["regret"] == pytest.approx(0, abs=1e-12)
    assert best["regret_all_starts"] == pytest.approx(0, abs=1e-12)
    assert best["regret_episode"] == pytest.approx(0, abs=1e-9)
    worst = regrets(-truth, mdp, ref)
    assert worst["regret"] == pytest.approx(1.0)  # normalised by best - worst
    assert worst["regret_all_starts"] == pytest.approx(1.0)
    # a potential-shaped, scaled truth has the same optimal policies (up to ties): no regret
    phi = np.random.default_rng(0).normal(size=len(mdp["next"]))
    shaped = 3 * truth + 0.98 * phi[None, None, :] - phi[:, None, None]
    assert regrets(shaped, mdp, ref)["regret"] == pytest.approx(0, abs=1e-9)


def _rows(x: list[float], y: list[float]) -> list[dict]:
    rows = []
    for i, (a, b) in enumerate(zip(x, y, strict=True)):
        rows.append({"seed": i, "pairs": 10, "noise": 0.25, "regret": b, "regret_all_starts": b,
                     "regret_episode": b, **dict.fromkeys(PREDICTORS, a),
                     "error_fresh": -a})  # fmt: skip
    return rows


def test_spearman_with_ci_against_hand_values():
    rows = _rows([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.0, 0.1, 0.05, 0.3, 0.4, 0.9])
    stats = spearman_with_ci(rows, "regret", n_boot=200)
    # ranks of y: 1, 3, 2, 4, 5, 6 against 1..6: rho = 1 - 6 * 2 / (6 * 35) = 33 / 35
    assert stats["epic"]["rho"] == pytest.approx(33 / 35)
    assert stats["error_fresh"]["rho"] == pytest.approx(-33 / 35)
    low, high = stats["epic"]["ci"]
    assert low <= 33 / 35 <= high <= 1
    # paired difference EPIC - fresh error: 2 * rho_epic in every resample, always > 0
    assert stats["epic"]["minus_error_fresh_ci"][0] > 0
    constant = spearman_with_ci(_rows([0.1, 0.2, 0.3], [0.0, 0.0, 0.0]), "regret", n_boot=10)
    assert math.isnan(constant["epic"]["rho"])
    with pytest.raises(ValueError, match="unknown regret 'loss'"):
        spearman_with_ci(rows, "loss", 10)


def test_a_cell_runs_resumes_and_reports(tmp_path):
    cells = reward_distances_suite([0], [20], [0.25], n_mean_samples=32)
    first = run_suite(cells, tmp_path, workers=1, progress=False)
    assert len(first.computed) == 1
    again = run_suite(cells, tmp_path, workers=1, progress=False)
    assert again.skipped == [cells[0].key] and not again.computed
    paths = write_reward_distances_report(tmp_path, n_boot=20)
    rows = paths["csv"].read_text().splitlines()
    assert len(rows) == 1 + 8  # five members, mean, WCO, UWO
    assert "member0" in rows[1] and "n_mean_samples" in rows[0]
    md = paths["markdown"].read_text()
    assert "8 models in 1 ensembles" in md and "| EPIC |" in md and "n_mean_samples=32" in md
    assert paths["plot"].stat().st_size > 0


def test_reports_never_pool_different_sample_sizes(tmp_path):
    from advrl.bench.store import ResultsStore

    store = ResultsStore(tmp_path)
    for n in (32, 64):
        cell = RewardDistanceCell(seed=0, pairs=20, n_mean_samples=n)
        store.put(cell, {"rows": _rows([0.1, 0.2, 0.3], [0.0, 0.2, 0.1])})
    md = write_reward_distances_report(tmp_path, n_boot=10)["markdown"].read_text()
    assert md.count("Settings:") == 2
    assert "n_mean_samples=32" in md and "n_mean_samples=64" in md
    assert md.count("3 models in") == 2


def test_bad_settings_are_refused_before_any_work(capsys):
    with pytest.raises(ValueError, match="noise must be in \\[0, 0.5\\], got 0.7"):
        RewardDistanceCell(noise=0.7)
    with pytest.raises(ValueError, match="pairs must be >= 2"):
        RewardDistanceCell(pairs=1)
    with pytest.raises(ValueError, match="n_mean_samples must be >= 1"):
        RewardDistanceCell(n_mean_samples=0)
    with pytest.raises(SystemExit):
        main(["bench", "reward-distances", "--pairs", "1"])
    assert "--pairs" in capsys.readouterr().err
