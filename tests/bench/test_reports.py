"""Reports never merge cells of different settings: a differing setting is a column."""

import csv

import numpy as np

from advrl.bench import Cell, ResultsStore, rows, write_reports
from advrl.bench.cheap_talk import CheapTalkCell, write_cheap_talk_report
from advrl.bench.hacking import HackingCell, write_hacking_report
from advrl.bench.overoptimization import OveroptCell, write_overoptimization_report
from advrl.bench.report import varying_settings
from advrl.bench.robustness import RobustnessCell, write_robustness_report
from advrl.bench.smoothing import SmoothingCell, write_certificate_report


def _csv(path):
    return list(csv.DictReader(path.open()))


def _table(path):
    """The lines of the Markdown table in ``path`` (the caption above it left out)."""
    return [line for line in path.read_text().splitlines() if line.startswith("|")]


def _attack_result(mean):
    return {"mean_return": mean, "std_return": 0.0, "mean_attack_norm": 0.0,
            "max_attack_norm": 0.0, "steps": 10, "seconds": 0.1}  # fmt: skip


def test_varying_settings_looks_within_each_scope():
    a = {"kind": "k", "task": "t", "method": "ppo", "steps": 1, "episodes": 0, "seed": 0}
    b = {**a, "method": "bon", "steps": 0, "episodes": 16}
    assert varying_settings([a, b], shown=["method"]) == ["steps", "episodes"]
    assert varying_settings([a, b], within=["method"]) == []  # each method has one value
    assert varying_settings([a, {**a, "seed": 1}]) == []  # seeds are averaged over
    assert varying_settings([a, {**a, "seed": 1}], averaged=()) == ["seed"]
    assert varying_settings([a, {**a, "extra": None}]) == []  # missing counts as None


def test_attack_rows_of_other_episodes_are_told_apart(tmp_path):
    store = ResultsStore(tmp_path)
    for episodes, clean, attacked in ((1, 100.0, 50.0), (4, 200.0, 50.0)):
        store.put(Cell("ppo-cartpole", "CartPole-v1", "none", 0.0, episodes=episodes),
                  _attack_result(clean))  # fmt: skip
        store.put(Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.2, episodes=episodes),
                  _attack_result(attacked))  # fmt: skip
    table = rows(tmp_path)
    ratios = {(r["episodes"], r["attack"]): r["return_ratio"] for r in table}
    assert ratios[(1, "pgd")] == 0.5 and ratios[(4, "pgd")] == 0.25  # each vs its own clean
    paths = write_reports(tmp_path)
    md = _table(paths["markdown"])
    assert md[0].startswith("| policy | episodes | attack | eps |")
    assert "| ppo-cartpole | 1 | pgd | 0.2 | 50.0 ± 0.0 | 50% |" in md[2:][1]
    assert "| ppo-cartpole | 4 | pgd | 0.2 | 50.0 ± 0.0 | 25% |" in md[2:][3]
    assert paths["plot"].is_file()


def test_attack_rows_of_other_n_envs_get_a_column(tmp_path):
    store = ResultsStore(tmp_path)
    for n_envs in (1, 2):
        store.put(Cell("ppo-cartpole", "CartPole-v1", "none", 0.0, episodes=2, n_envs=n_envs),
                  _attack_result(10.0 * n_envs))  # fmt: skip
    write_reports(tmp_path)
    table = _csv(tmp_path / "results.csv")
    assert [r["n_envs"] for r in table] == ["1", "2"]
    assert "| n_envs |" in _table(tmp_path / "results.md")[0]


def _curve(points, value):
    return [[100.0 * k, value, 2 * value] for k in range(points)]


def test_hacking_runs_of_other_steps_are_not_averaged(tmp_path):
    store = ResultsStore(tmp_path)
    for steps, value, points in ((2048, 1.0, 20), (4096, 3.0, 12)):
        store.put(HackingCell("advrl/Tomato-v0", "ppo", steps=steps),
                  {"mean_return": value, "final_true": value, "final_proxy": 2 * value,
                   "reference_true": 1.0, "curve": _curve(points, value)})  # fmt: skip
    paths = write_hacking_report(tmp_path)
    md = _table(paths["markdown"])
    assert "| convention | steps | seeds |" in md[0]
    assert len(md) == 2 + 2
    assert "| reference | 2048 | 1 | 1.00 ± 0.00 |" in md[2]
    assert "| reference | 4096 | 1 | 3.00 ± 0.00 |" in md[3]
    assert [r["steps"] for r in _csv(paths["csv"])] == ["2048", "4096"]
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"


def _ppo_result(curve_len, gold):
    curve = [[512.0 * (k + 1), gold, gold] for k in range(curve_len)]
    return {"rm_held_out_accuracy": 0.7, "rm_held_out_clean_accuracy": 0.8, "mean_return": gold,
            "peak_gold": gold, "final_gold": gold, "gold_drop": 0.0, "final_proxy": gold,
            "curve": curve}  # fmt: skip


def test_overoptimization_runs_of_other_steps_are_not_two_seeds(tmp_path):
    store = ResultsStore(tmp_path)
    for steps, gold, points in ((4096, 1.0, 8), (8192, 3.0, 16)):
        store.put(OveroptCell("advrl/Tomato-v0", "ppo", "single", steps=steps),
                  _ppo_result(points, gold))  # fmt: skip
    paths = write_overoptimization_report(tmp_path)
    md = _table(paths["markdown"])
    assert "| served reward | steps | seeds |" in md[0]
    assert "| advrl/Tomato-v0 | ppo | single | 4096 | 1 | 1.00 |" in md[2]
    assert "| advrl/Tomato-v0 | ppo | single | 8192 | 1 | 3.00 |" in md[3]
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"  # curves of 8 and 16 points


def test_overoptimization_default_steps_equal_the_explicit_number(tmp_path):
    from advrl.bench.overoptimization import TASKS

    store = ResultsStore(tmp_path)
    default = TASKS["advrl/Tomato-v0"].ppo_steps
    store.put(OveroptCell("advrl/Tomato-v0", "ppo", "single", seed=0), _ppo_result(4, 1.0))
    store.put(OveroptCell("advrl/Tomato-v0", "ppo", "single", seed=1, steps=default),
              _ppo_result(4, 3.0))  # fmt: skip
    md = _table(write_overoptimization_report(tmp_path)["markdown"])
    assert len(md) == 3 and "| single | 2 | 2.00 |" in md[2]  # one run of two seeds


def test_cheap_talk_runs_of_other_victims_are_not_averaged(tmp_path):
    store = ResultsStore(tmp_path)
    for victims, ret, updates in ((2, 10.0, 3), (4, 30.0, 5)):
        curve = [[512.0 * (u + 1), ret] for u in range(updates)]
        store.put(CheapTalkCell("none", victims=victims, n_updates=updates),
                  {"mean_return": ret, "std_return": 0.0, "returns": [ret], "curve": curve,
                   "seconds": 1.0})  # fmt: skip
    paths = write_cheap_talk_report(tmp_path)
    md = _table(paths["markdown"])
    assert md[0].startswith("| method | n_updates | victims | seeds |")
    assert md[2].startswith("| none | 3 | 2 | 1 | 10.0 ± 0.0 |")
    assert md[3].startswith("| none | 5 | 4 | 1 | 30.0 ± 0.0 |")
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"


def test_robustness_grid_points_of_other_settings_are_not_overwritten(tmp_path):
    store = ResultsStore(tmp_path)
    for episodes, ret in ((2, 1.0), (5, 2.0)):
        cell = RobustnessCell("m", "PPO", "m.zip", "InvertedPendulum-v5", 1.0, 1.0,
                              episodes=episodes)  # fmt: skip
        store.put(cell, {"mean_return": ret, "returns": [ret]})
    paths = write_robustness_report(tmp_path)
    table = _csv(paths["csv"])
    assert [(r["episodes"], r["mean_return"]) for r in table] == [("2", "1.0"), ("5", "2.0")]
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"


def test_certificates_of_other_seeds_and_attack_episodes_are_apart(tmp_path):
    store = ResultsStore(tmp_path)
    rng = np.random.default_rng(0)
    policy = "ppo-cartpole-smooth-sigma0.2"
    for seed in (0, 1):
        returns = (rng.uniform(0, 100, 300) + 100 * seed).tolist()
        store.put(SmoothingCell(policy, 0.2, 0.0, 300, seed),
                  {"mean_return": float(np.mean(returns)), "returns": returns,
                   "horizon": 100})  # fmt: skip
    for episodes, value in ((10, 40.0), (20, 60.0)):
        store.put(SmoothingCell(policy, 0.2, 0.5, episodes, 0, n_envs=episodes),
                  {"mean_return": value, "returns": [value] * episodes})  # fmt: skip
    paths = write_certificate_report(tmp_path, [0.0, 0.5], method="dkw")
    table = _csv(paths["csv"])
    got = [(r["seed"], r["budget"], r["attacked_episodes"], r["attacked_mean"]) for r in table]
    assert got == [
        ("0", "0.0", "", got[0][3]), ("0", "0.5", "10", "40.0"), ("0", "0.5", "20", "60.0"),
        ("1", "0.0", "", got[3][3]), ("1", "0.5", "", ""),
    ]  # fmt: skip
    assert float(got[3][3]) > float(got[0][3]) + 50  # seed 1's own clean mean
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"


def _caption(path):
    """The caption line, which must come right above the table."""
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Settings: ") and lines[1] == "" and lines[2].startswith("|")
    return lines[0]


def test_every_table_names_the_settings_its_rows_share(tmp_path):
    from advrl.bench.leaderboard_report import write_leaderboard_report

    store = ResultsStore(tmp_path)
    for seed in (0, 1):
        store.put(Cell("ppo-cartpole", "CartPole-v1", "none", 0.0, seed, episodes=4),
                  _attack_result(100.0))  # fmt: skip
        store.put(Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.2, seed, episodes=4, norm="l2"),
                  _attack_result(50.0))  # fmt: skip
        store.put(HackingCell("advrl/Tomato-v0", "ppo", seed=seed, steps=2048),
                  {"mean_return": 1.0, "final_true": 1.0, "final_proxy": 2.0,
                   "reference_true": 1.0, "curve": _curve(4, 1.0)})  # fmt: skip
        store.put(OveroptCell("advrl/Tomato-v0", "ppo", "single", seed=seed, steps=4096),
                  _ppo_result(4, 1.0))  # fmt: skip
        store.put(CheapTalkCell("none", seed, victims=2, n_updates=3),
                  {"mean_return": 1.0, "std_return": 0.0, "returns": [1.0], "seconds": 1.0,
                   "curve": [[512.0, 1.0]]})  # fmt: skip
    results = _caption(write_reports(tmp_path)["markdown"])
    for part in ("env CartPole-v1", "4 episodes per cell", "eps: l_2 / l_inf norm, in the "
                 "normalised observation space", "2 seeds (0, 1)", "mean ± std over each "
                 "cell's episodes"):  # fmt: skip
        assert part in results, results
    assert "| norm |" in _table(tmp_path / "results.md")[0]  # the norm differs: a column too
    board = _caption(write_leaderboard_report(tmp_path)["markdown"])
    assert "4 episodes per cell" in board and "2 seeds (0, 1)" in board, board
    hacking = _caption(write_hacking_report(tmp_path)["markdown"])
    for part in ("steps=2048", "n_envs=8", "2 seeds (0, 1)", "last 10% of training episodes"):
        assert part in hacking, hacking
    overopt = _caption(write_overoptimization_report(tmp_path)["markdown"])
    for part in ("steps=4096", "noise=0.25", "members=5", "n_pairs=2000", "2 seeds (0, 1)"):
        assert part in overopt, overopt
    assert "episodes=" not in overopt  # PPO cells ignore the best-of-n pool size
    cheap = _caption(write_cheap_talk_report(tmp_path)["markdown"])
    for part in ("popsize=32", "generations=20", "n_updates=3", "victims=2", "2 seeds (0, 1)",
                 "8 greedy episodes per victim"):  # fmt: skip
        assert part in cheap, cheap
