"""The overoptimisation suite: the best-of-n estimator, tiny cells, the report and the CLI."""

import dataclasses
import itertools

import numpy as np
import pytest

from advrl.bench.overoptimization import OveroptCell, best_of_n, overoptimization_suite
from advrl.cli import main


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_best_of_n_is_exact_over_all_subsets(n):
    rng = np.random.default_rng(n)
    proxy, gold = rng.normal(size=6), rng.normal(size=6)
    subsets = list(itertools.combinations(range(6), n))
    by_hand = np.mean([gold[max(s, key=lambda i: proxy[i])] for s in subsets])
    proxy_hand = np.mean([max(proxy[list(s)]) for s in subsets])
    g, p = best_of_n(proxy, gold, n)
    assert g == pytest.approx(by_hand) and p == pytest.approx(proxy_hand)
    with pytest.raises(ValueError, match="1 <= n <= pool size 6"):
        best_of_n(proxy, gold, 7)


def test_bad_cells_are_clear_errors():
    with pytest.raises(ValueError, match="unknown task 'Nope-v0'"):
        OveroptCell("Nope-v0", "ppo", "single")
    with pytest.raises(ValueError, match="served must be one of"):
        OveroptCell("advrl/Tomato-v0", "ppo", "median")
    with pytest.raises(ValueError, match="members >= 2"):
        OveroptCell("advrl/Tomato-v0", "bon", "all", members=1)
    with pytest.raises(ValueError, match="unknown method 'dpo'"):
        overoptimization_suite(["advrl/Tomato-v0"], ["dpo"], [0])


def test_tiny_suite_runs_and_reports_through_the_cli(tmp_path, monkeypatch, capsys):
    import advrl.bench.overoptimization as oo

    tiny = dict(n_segments=30, n_pairs=60, rm_epochs=1, members=2, n_envs=2)
    real = oo.OveroptCell
    task = oo.TASKS["advrl/Tomato-v0"]
    ppo = {**task.ppo, "n_steps": 64, "batch_size": 64, "n_epochs": 1}
    monkeypatch.setitem(oo.TASKS, "advrl/Tomato-v0", dataclasses.replace(task, ppo=ppo))
    monkeypatch.setattr(oo, "OveroptCell", lambda *a, **k: real(*a, **{**k, **tiny}))
    argv = ["bench", "overoptimization", "--tasks", "advrl/Tomato-v0", "--members", "2",
            "--ppo-steps", "256", "--bon-episodes", "16", "--workers", "1", "--out",
            str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    for served in ("single", "mean", "wco", "uwo"):
        assert f"| advrl/Tomato-v0 | ppo | {served} | 1 |" in out
        assert f"| advrl/Tomato-v0 | bon | {served} | 1 |" in out
    assert (tmp_path / "overoptimization.png").is_file()
    assert main(argv) == 0  # resumes: nothing recomputed
    assert "0 cells computed, 5 resumed" in capsys.readouterr().out


def test_uwo_lambda_reaches_the_served_reward_and_keeps_old_keys():
    from advrl.agents.reward_models import RewardEnsemble, RewardNet
    from advrl.bench.overoptimization import served_label, served_model

    plain = OveroptCell("advrl/Tomato-v0", "ppo", "uwo")
    assert "uwo_lambda" not in plain.to_dict()  # runs stored before the option still resume
    assert OveroptCell("advrl/Tomato-v0", "ppo", "uwo", uwo_lambda=2.0).key != plain.key
    with pytest.raises(ValueError, match="uwo_lambda must be a finite number >= 0, got -1.0"):
        OveroptCell("advrl/Tomato-v0", "ppo", "uwo", uwo_lambda=-1.0)

    import gymnasium as gym

    space = gym.spaces.Box(-1, 1, (3,))
    members = [RewardNet(space, space, inputs=("obs",)) for _ in range(3)]
    ensemble = RewardEnsemble(members, aggregation="mean")
    assert served_model(ensemble, "uwo", "ppo").lam == pytest.approx(0.1)
    assert served_model(ensemble, "uwo", "bon", 2.0).lam == pytest.approx(2.0)
    assert served_model(ensemble, "wco", "bon", 2.0).aggregation == "wco"
    assert served_label("uwo", 2.0) == "uwo (lambda 2)" and served_label("wco", 2.0) == "wco"
