"""The benchmark runner: determinism, atomic resume after a kill, reports, backends."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from advrl.bench import Cell, ResultsStore, attack_suite, rows, run_suite, write_reports
from advrl.bench.backends import run_backend
from tests.conftest import NEEDS_RAY


def small_suite():
    return attack_suite(["ppo-cartpole"], ["uniform", "pgd"], eps=[0.2], episodes=2, n_envs=2)


def results(out):
    return {rec["cell"]["attack"]: rec["result"]["returns"] for rec in ResultsStore(out).records()}


def test_suite_cells_and_keys():
    cells = small_suite()
    assert [c.attack for c in cells] == ["none", "uniform", "pgd"]
    assert len({c.key for c in cells}) == 3
    same = Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.2, episodes=2, n_envs=2)
    assert same.key == cells[2].key  # the key depends on the config only
    assert Cell("ppo-cartpole", "CartPole-v1", "pgd", 0.2, seed=1).key != same.key
    with pytest.raises(ValueError, match="unknown attack 'nope'"):
        attack_suite(["ppo-cartpole"], ["nope"])
    with pytest.raises(KeyError, match="unknown zoo policy 'ppo-nope'"):
        attack_suite(["ppo-nope"], ["pgd"])
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        Cell("ppo-cartpole", "CartPole-v1", "pgd", float("nan"))


def test_same_seed_gives_identical_results(tmp_path):
    run_suite(small_suite(), tmp_path / "a", workers=1, progress=False)
    run_suite(small_suite(), tmp_path / "b", workers=1, progress=False)
    assert results(tmp_path / "a") == results(tmp_path / "b")


def test_rerun_skips_finished_cells_and_reports_are_rebuilt(tmp_path):
    first = run_suite(small_suite(), tmp_path, workers=1, progress=False)
    assert len(first.computed) == 3 and not first.skipped
    second = run_suite(small_suite(), tmp_path, workers=1, progress=False)
    assert not second.computed and len(second.skipped) == 3
    paths = write_reports(tmp_path)
    table = rows(tmp_path)
    assert [r["attack"] for r in table] == ["none", "pgd", "uniform"]
    assert table[0]["return_ratio"] == 1.0
    csv_text = paths["csv"].read_text()
    assert csv_text.splitlines()[0].startswith("policy,env,attack")
    assert "| ppo-cartpole | pgd | 0.2 |" in paths["markdown"].read_text()
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_killed_run_resumes_without_recomputing_or_losing_cells(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "advrl.cli", "bench", "attacks", "--policies", "ppo-cartpole",
        "--attacks", "uniform", "pgd", "mad", "--eps", "0.1", "0.2", "--episodes", "3",
        "--n-envs", "1", "--workers", "1", "--out", str(out),
    ]  # fmt: skip
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    cells_dir = out / "cells"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cells_dir.glob("*.json"))) < 2:
        assert proc.poll() is None, f"the run ended before the kill: {stderr.read_text()}"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.read_bytes() for p in cells_dir.glob("*.json")}
    assert 2 <= len(finished) < 7, "the kill should land mid-run"
    for blob in finished.values():
        json.loads(blob)  # no half-written results
    suite = attack_suite(
        ["ppo-cartpole"], ["uniform", "pgd", "mad"], eps=[0.1, 0.2], episodes=3, n_envs=1
    )
    summary = run_suite(suite, out, workers=1, progress=False)
    assert len(summary.skipped) == len(finished)
    assert len(summary.computed) == 7 - len(finished)
    for name, blob in finished.items():
        assert (cells_dir / name).read_bytes() == blob  # untouched
    assert len(list(cells_dir.glob("*.json"))) == 7


def test_process_pool_equals_inline(tmp_path):
    run_suite(small_suite(), tmp_path / "inline", workers=1, progress=False)
    run_suite(small_suite(), tmp_path / "pool", workers=2, progress=False)
    assert results(tmp_path / "inline") == results(tmp_path / "pool")


def test_ray_backend_equals_local_backend(tmp_path):
    pytest.importorskip("ray", reason=NEEDS_RAY)
    run_suite(small_suite(), tmp_path / "local", workers=1, progress=False)
    run_suite(small_suite(), tmp_path / "ray", backend="ray", workers=2, progress=False)
    assert results(tmp_path / "local") == results(tmp_path / "ray")


def test_ray_backend_without_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ImportError, match=r"advrl\[ray\]"):
        list(run_backend("ray", small_suite(), lambda c: {}))


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'slurm'"):
        list(run_backend("slurm", small_suite(), lambda c: {}))


def test_store_filters_by_kind_and_skips_pre_release_records(tmp_path):
    import warnings

    from advrl.bench.hacking import HackingCell

    store = ResultsStore(tmp_path)
    attack = Cell("ppo-cartpole", "CartPole-v1", "uniform", 0.5, episodes=2)
    hacking = HackingCell("advrl/Tomato-v0", "ppo")
    store.put(attack, {"mean_return": 1.0})
    store.put(hacking, {"final_true": 2.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing legacy yet: no warning
        assert [r["result"] for r in store.records("attack")] == [{"mean_return": 1.0}]
        assert [r["result"] for r in store.records("hacking")] == [{"final_true": 2.0}]
    legacy = {"cell": {"policy": "ppo-cartpole", "attack": "uniform"}, "result": {}}
    (store.cells_dir / "old-format.json").write_text(json.dumps(legacy))
    with pytest.warns(UserWarning, match="1 result files .* pre-release format"):
        assert len(store.records()) == 2
