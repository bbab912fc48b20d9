"""benchmarks/gpu.py runs end to end: every section measured, with positive rates, on the CPU
(and on CUDA where there is one)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch as th

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"
SECTIONS = {"pgd_mad", "sappo", "optimal_attack", "act_population", "learned_reward"}


def run_quick(device: str, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), "--device", device, "--quick", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "gpu.md").read_text() in done.stdout  # the table printed is the one written
    return json.loads((out / "gpu.json").read_text())


def test_the_cpu_quick_run_measures_every_section(tmp_path):
    report = run_quick("cpu", tmp_path)
    assert set(report["sections"]) == SECTIONS
    for section, rows in report["sections"].items():
        assert rows, section
        for row in rows:
            assert row["cpu"] > 0, (section, row)
            assert row["cuda"] is None and row["ratio"] is None, (section, row)
    assert report["cuda_device"] is None
    assert "| n/a |" in (tmp_path / "gpu.md").read_text()


def test_a_cuda_device_without_cuda_is_refused_by_name(tmp_path):
    if th.cuda.is_available():
        pytest.skip("this machine has CUDA")
    command = [sys.executable, str(SCRIPT), "--device", "cuda", "--quick"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--device cuda" in done.stderr and "--device cpu" in done.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_the_cuda_quick_run_reports_a_ratio_per_case(tmp_path):
    report = run_quick("cuda", tmp_path)
    assert set(report["sections"]) == SECTIONS and report["cuda_device"]
    for section, rows in report["sections"].items():
        for row in rows:
            assert row["cpu"] > 0 and row["cuda"] > 0, (section, row)
            assert row["ratio"] == pytest.approx(row["cuda"] / row["cpu"])
