"""The constrained-composite bench: cell settings, key, resume and the report from the store."""

import dataclasses

import numpy as np
import pytest
import torch as th

from advrl.bench import overoptimization as overopt
from advrl.bench import run_suite
from advrl.bench.constrained import ConstrainedCell, constrained_suite
from advrl.bench.constrained_report import constrained_figure, write_constrained_report
from advrl.bench.store import ResultsStore

TINY = dict(steps=256, n_envs=2, episode_steps=8, n_segments=40, n_pairs=20, rm_epochs=1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    th.set_num_threads(1)
    task = overopt.TASKS["HalfCheetah-v5"]
    fast = dataclasses.replace(
        task, ppo=dict(n_steps=64, batch_size=64, n_epochs=1, policy_kwargs=dict(net_arch=[8]))
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(overopt.TASKS, "HalfCheetah-v5", fast)
        out = tmp_path_factory.mktemp("constrained")
        cells = [ConstrainedCell(seed=0, **TINY)]
        summary = run_suite(
            cells, out, workers=1, progress=False, backend="local", fn=lambda c: c.run()
        )
        assert len(summary.computed) == 1
        again = run_suite(cells, out, workers=1, progress=False, fn=lambda c: 1 / 0)
        assert len(again.skipped) == 1 and not again.computed  # resumed, nothing rerun
    return out


def test_cell_runs_both_learners_on_the_same_proxy_points(run_dir):
    records = ResultsStore(run_dir).records("constrained")
    res = records[0]["result"]
    assert set(res["proxy_points"]) == {"rm_forward", "rm_ctrl"}
    assert len(res["sum"]["curve"]) == len(res["constrained"]["curve"]) == 20
    curve = np.asarray(res["sum"]["curve"])
    # the proxy points lie within the sum run's observed component returns
    for j, name in enumerate(["rm_forward", "rm_ctrl"]):
        assert curve[:, 3 + j].min() <= res["proxy_points"][name] <= curve[:, 3 + j].max()
    assert res["throughput_ratio"] > 0
    assert res["constrained"]["multipliers"] and not res["sum"]["multipliers"]


def test_report_from_the_store(run_dir, tmp_path):
    paths = write_constrained_report(run_dir, tmp_path)
    text = paths["markdown"].read_text()
    assert "| HalfCheetah-v5 | 0 | sum |" in text and "| HalfCheetah-v5 | 0 | constrained |" in text
    assert "throughput ratio" in text and "rm_forward" in text
    header = paths["csv"].read_text().splitlines()[0].split(",")
    assert {
        "sum_gold_drop",
        "constrained_gold_drop",
        "proxy_point_rm_forward",
        "throughput_ratio",
    } <= set(header)
    assert paths["plot"].stat().st_size > 0
    fig = constrained_figure(run_dir)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["sum", "constrained"]
    assert len(fig.axes) == 3  # gold and the two components


def test_empty_store_writes_empty_report(tmp_path):
    paths = write_constrained_report(tmp_path)
    assert paths["csv"].exists() and not paths["plot"].exists()
    assert constrained_figure(tmp_path) is None


def test_key_names_the_settings():
    a, b = ConstrainedCell(seed=0), ConstrainedCell(seed=0, n_pairs=200)
    assert a.key == ConstrainedCell(seed=0).key and a.key != b.key
    assert a.key.startswith("constrained-HalfCheetah-v5-s0-")
    assert a.to_dict()["kind"] == "constrained"
    assert [c.seed for c in constrained_suite(["HalfCheetah-v5"], [0, 1, 2])] == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(task="advrl/Tomato-v0"), "unknown task"),
        (dict(multiplier_lr=-1.0), "learning rate"),
        (dict(sense="lower"), "unknown constraint sense"),
        (dict(noise=0.7), "noise"),
        (dict(steps=-1), "steps >= 0"),
    ],
)
def test_bad_cells(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConstrainedCell(**kwargs)
