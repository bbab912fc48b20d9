"""The targeted-attack bench: cells, the target reward, a tiny resumable run and its report."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from advrl.bench.runner import run_suite
from advrl.bench.store import ResultsStore
from advrl.bench.targeted import TargetedCell, TargetReward, targeted_suite, wilson
from advrl.bench.targeted_report import groups, write_targeted_report

TINY = dict(n_segments=4, n_pairs=4, rm_epochs=1, intention_steps=64, adversary_steps=64,
            ablation_steps=64, throughput_steps=64, episodes=2, episode_steps=30, n_envs=1,
            rollout_steps=64, net_arch=(8,))  # fmt: skip


def test_cells_check_their_settings():
    with pytest.raises(ValueError, match="unknown target 'sideways'"):
        TargetedCell(target="sideways")
    with pytest.raises(ValueError, match="eps"):
        TargetedCell(eps=-0.1)
    with pytest.raises(ValueError, match="HalfCheetah-v5"):
        TargetedCell(victim="ppo-hopper")
    with pytest.raises(ValueError, match="counts"):
        TargetedCell(episodes=0)


def test_keys_follow_the_settings():
    cell = TargetedCell()
    assert cell.key == TargetedCell().key and cell.to_dict()["kind"] == "targeted"
    assert cell.key != dataclasses.replace(cell, eps=0.1).key
    assert [c.seed for c in targeted_suite(seeds=[0, 1])] == [0, 1]


def test_target_reward_runs_backward():
    env = TargetReward(gym.make("HalfCheetah-v5"), "backward")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.full(6, 0.5, dtype=np.float32))
    assert reward == pytest.approx(-info["reward_forward"] + info["reward_ctrl"])
    assert info["reward_true"] == reward
    assert info["reward_task"] == pytest.approx(info["reward_forward"] + info["reward_ctrl"])


def test_wilson_interval():
    low, high = wilson(0, 2)
    assert low == 0.0 and high == pytest.approx(0.6576, abs=1e-4)
    low, high = wilson(10, 20)
    assert low < 0.5 < high and low + high == pytest.approx(1.0)


def test_tiny_run_resumes_and_reports(tmp_path):
    cell = TargetedCell(**TINY)
    first = run_suite([cell], tmp_path, progress=False)
    assert first.computed == [cell.key]
    assert run_suite([cell], tmp_path, progress=False).skipped == [cell.key]
    result = ResultsStore(tmp_path).get(cell)
    names = [r["attack"] for r in result["rows"]]
    assert names == ["none", "uniform", "pgd", "optimal", "intention_pgd", "rat",
                     "rat_unweighted", "intention"]  # fmt: skip
    for row in result["rows"]:
        assert row["episodes"] == 2 and row["ci_low"] <= row["success_rate"] <= row["ci_high"]
    assert result["mean_return"] == result["rows"][5]["mean_return"]
    # A second cell at another budget is reported apart, never merged.
    other = dataclasses.replace(cell, eps=0.1)
    ResultsStore(tmp_path).put(other, result)
    assert len(groups(ResultsStore(tmp_path).records("targeted"))) == 2
    paths = write_targeted_report(tmp_path)
    text = paths["markdown"].read_text()
    assert text.count("| attack | success |") == 2 and "| RAT |" in text
    assert "optimal attack" in text  # the shipped adversary matches eps 0.15 ...
    assert paths["csv"].read_text().count("\n") == 1 + 2 * len(names)
    assert paths["plot"].stat().st_size > 0


def test_no_optimal_row_without_a_matching_shipped_adversary(tmp_path):
    from advrl.bench.targeted import shipped_optimal

    assert shipped_optimal("ppo-halfcheetah", 0.15) is not None
    assert shipped_optimal("ppo-halfcheetah", 0.1) is None


def test_figure_aligns_attacks_across_groups():
    from advrl.bench.targeted_report import targeted_figure

    def rec(eps, attacks):
        rows = [
            {
                "attack": a,
                "episodes": 2,
                "successes": i % 3,
                "mean_x_velocity": float(i),
                "mean_target_return": 0.0,
                "mean_return": 0.0,
            }
            for i, a in enumerate(attacks)
        ]
        cell = {**TargetedCell().to_dict(), "eps": eps}
        return {"cell": cell, "result": {"rows": rows}}

    full = ["none", "rat", "rat_unweighted", "intention"]
    fig = targeted_figure(groups([rec(0.15, full), rec(0.1, ["none", "rat", "intention"])]))
    ax = fig.axes[1]
    assert [t.get_text() for t in ax.get_xticklabels()] == full
    # "intention" sits at the same tick in both groups although one lacks the ablation.
    xs = [line.get_xdata()[-1] for line in ax.lines if line.get_linestyle() == "None"]
    assert xs == [3, 3]
