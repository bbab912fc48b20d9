"""Several runs on one run directory share its cells; a dead run's claims are taken over."""

import multiprocessing as mp
import os
import threading
import time

from toy_cells import ToyCell, computations, run_toy

from advrl.bench import ResultsStore, run_suite
from advrl.bench.claims import Claims


def _run(cells, out, queue, start):
    start.wait()  # both runs are imported and start together
    summary = run_suite(cells, out, workers=1, progress=False, fn=run_toy, poll=0.05)
    queue.put((os.getpid(), summary.computed, summary.elsewhere))


def test_two_runs_on_one_directory_compute_each_cell_once(tmp_path):
    log = str(tmp_path / "log")
    cells = [ToyCell(f"c{i}", seconds=0.3, log=log) for i in range(8)]
    ctx = mp.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Barrier(2)
    runs = [ctx.Process(target=_run, args=(cells, tmp_path / "out", queue, start))
            for _ in range(2)]  # fmt: skip
    for p in runs:
        p.start()
    summaries = {pid: (computed, elsewhere) for pid, computed, elsewhere in
                 (queue.get(timeout=120) for _ in runs)}  # fmt: skip
    for p in runs:
        p.join(timeout=30)
    done = computations(log)
    assert sorted(k for k, _ in done) == sorted(c.key for c in cells)  # each exactly once
    assert {pid for _, pid in done} == set(summaries)  # and both runs did some of them
    store = ResultsStore(tmp_path / "out")
    for key, pid in done:
        assert store.get(next(c for c in cells if c.key == key))["pid"] == pid
        assert key in summaries[pid][0]
    assert not list((tmp_path / "out" / "claims").iterdir())  # every claim released


def _claim_and_die(out, key):
    Claims(out).take(key)
    os._exit(0)  # no release: the claim file stays behind, naming a dead pid


def test_a_dead_runs_claim_is_taken_over(tmp_path):
    cell = ToyCell("a")
    dead = mp.get_context("spawn").Process(target=_claim_and_die, args=(tmp_path, cell.key))
    dead.start()
    dead.join(timeout=60)
    stale = Claims(tmp_path).path(cell.key)
    assert stale.read_text().split()[0] == str(dead.pid)
    summary = run_suite([cell], tmp_path, workers=1, progress=False, fn=run_toy, poll=0.05)
    assert summary.computed == [cell.key]
    assert ResultsStore(tmp_path).get(cell)["pid"] == os.getpid()


def test_a_run_waits_for_a_cell_another_live_run_holds(tmp_path):
    free, held = ToyCell("free"), ToyCell("held")
    other = Claims(tmp_path).take(held.key)  # a live "other run": this very test
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(summary=run_suite(
        [free, held], tmp_path, workers=1, progress=False, fn=run_toy, poll=0.05)))  # fmt: skip
    runner.start()
    time.sleep(1.0)
    assert runner.is_alive() and ResultsStore(tmp_path).done(free)
    ResultsStore(tmp_path).put(held, {"mean_return": 7.0})  # the other run finishes it
    other.release()
    runner.join(timeout=30)
    assert outcome["summary"].computed == [free.key]
    assert outcome["summary"].elsewhere == [held.key]
    assert ResultsStore(tmp_path).get(held) == {"mean_return": 7.0}  # not recomputed


def test_a_released_claim_without_a_result_is_computed_by_the_waiting_run(tmp_path):
    cell = ToyCell("a")
    other = Claims(tmp_path).take(cell.key)
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(summary=run_suite(
        [cell], tmp_path, workers=1, progress=False, fn=run_toy, poll=0.05)))  # fmt: skip
    runner.start()
    time.sleep(0.5)
    assert runner.is_alive()
    other.release()  # the other run stopped (or died) without storing it
    runner.join(timeout=30)
    assert outcome["summary"].computed == [cell.key]


def test_a_claim_is_exclusive_and_names_its_owner(tmp_path):
    claims = Claims(tmp_path)
    mine = claims.take("k")
    assert claims.take("k") is None
    assert claims.owner("k").split()[0] == str(os.getpid())
    mine.release()
    assert claims.owner("k") == "" and claims.take("k") is not None
