"""Backends: pool workers die with the run; cells are pulled only when a worker is free."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from toy_cells import ToyCell, computations, run_toy

from advrl.bench.backends import run_local

HERE = Path(__file__).parent

RUN = """
import sys
from toy_cells import ToyCell, run_toy
from advrl.bench import run_suite
cells = [ToyCell(f"sleep{i}", seconds=600, log=sys.argv[2]) for i in range(2)]
run_suite(cells, sys.argv[1], workers=2, progress=False, fn=run_toy)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only nobody has reaped it yet


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_run_kills_its_pool_workers(tmp_path):
    log = str(tmp_path / "log")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    run = subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path / "out"), log], env=env)
    try:
        deadline = time.time() + 120
        while len(computations(log)) < 2 and time.time() < deadline:
            time.sleep(0.1)
        workers = [pid for _, pid in computations(log)]
        assert len(workers) == 2 and run.pid not in workers and all(map(_alive, workers))
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.time() + 5
    while any(map(_alive, workers)) and time.time() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in workers if _alive(pid)]
    for pid in alive:  # don't leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed parent"


def test_cells_are_pulled_only_when_a_worker_is_free():
    pulled = []

    def suite():
        for i in range(5):
            pulled.append(i)
            yield ToyCell(f"c{i}")

    runs = run_local(suite(), run_toy, workers=2)
    next(runs)
    assert len(pulled) <= 3  # two started, at most one more once the first finished
    assert len(list(runs)) == 4 and len(pulled) == 5


WATCH = """
import os, sys, time
from advrl.bench import backends
backends.sys.platform = "other"  # no prctl: only the getppid watcher
backends.exit_with_parent(os.getppid(), interval=0.05)
os.getppid = lambda: 1  # as if the parent had died and the worker were re-parented
time.sleep(30)
print("outlived its parent")
"""


def test_without_prctl_a_watcher_thread_ends_the_orphaned_worker():
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WATCH], capture_output=True, text=True)
    assert done.returncode == 1 and "outlived" not in done.stdout
    assert time.perf_counter() - start < 25


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_failing_cell_stops_the_pool_at_once(tmp_path):
    log = str(tmp_path / "log")
    slow = ToyCell("slow", seconds=600, log=log)
    cells = [slow, ToyCell("bad", seconds=0.5, log=log, fail="boom", wait_for=slow.key)]
    start = time.perf_counter()
    with pytest.raises(ValueError, match="boom"):
        list(run_local(cells, run_toy, workers=2))
    assert time.perf_counter() - start < 60
    worker = dict(computations(log))[slow.key]
    deadline = time.time() + 5
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)
