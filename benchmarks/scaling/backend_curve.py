"""Curve (e): one small attacks suite on the local process pool and on a local Ray cluster,
with 1 and 2 workers.

Each run is the whole command, ``advrl bench attacks ...`` in a fresh run directory (so no
cell is resumed), timed from start to exit: process start, imports, worker start-up and the
cells. The Ray cluster is started here (``ray start --head --num-cpus 2``) before the runs,
which join it with ``--backend ray --address auto``, and stopped (``ray stop``) afterwards.
Ray runs its workers under its own raylet, so only the local pool's CPU time can be read
(this process's children); the comparison is by wall clock.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import Curve, Timing

BIN = Path(sys.executable).parent
SUITE = ["--policies", "ppo-cartpole", "--attacks", "fgsm", "pgd", "mad", "--eps", "0.05",
         "0.1", "--episodes", "20", "--n-envs", "10"]  # fmt: skip
CELLS = 1 + 3 * 2  # the clean cell, then each attack at each eps
LABELS = {"local": "local (process pool)", "ray": "ray (local cluster)"}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite(backend: str, workers: int, out: Path) -> Timing:
    command = [str(BIN / "advrl"), "bench", "attacks", *SUITE, "--out", str(out),
               "--workers", str(workers), "--backend", backend]  # fmt: skip
    if backend == "ray":
        command += ["--address", "auto"]
    wall, cpu = time.perf_counter(), children_cpu()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Timing(time.perf_counter() - wall, children_cpu() - cpu, CELLS)


def backend_curve(repeats: int, workers=(1, 2)) -> Curve:
    curve = Curve(
        "backends", f"advrl bench attacks · ppo-cartpole · FGSM, PGD, MAD x eps 0.05, 0.1 + clean "
        f"· {CELLS} cells of 20 episodes · the whole command · median of {repeats}",
        "workers", "cells", plot="seconds", log_x=False, clocks=("wall",),
    )  # fmt: skip
    started = time.perf_counter()
    subprocess.run([str(BIN / "ray"), "start", "--head", "--num-cpus", "2",
                    "--include-dashboard=false", "--disable-usage-stats"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    curve.notes.append(f"ray start --head --num-cpus 2: {time.perf_counter() - started:.1f} s "
                       "(once, not in the runs)")  # fmt: skip
    cpu: dict[tuple[str, int], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(repeats):  # alternate the four configurations
                for backend in ("local", "ray"):
                    for w in workers:
                        t = run_suite(backend, w, Path(tmp) / f"{backend}-{w}-{r}")
                        curve.add(LABELS[backend], w, t)
                        cpu.setdefault((backend, w), []).append(t.cpu)
    finally:
        subprocess.run([str(BIN / "ray"), "stop"], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fmt: skip
    for label in curve.series:
        xs, secs = curve.medians(label, "wall")
        if len(xs) == 2:
            curve.notes.append(f"{label}: {xs[0]:.0f} -> {xs[1]:.0f} workers: "
                               f"{secs[0] / secs[1]:.2f}x faster (wall)")  # fmt: skip
    local = ", ".join(f"{w} worker(s): {sorted(v)[len(v) // 2]:.1f} s"
                      for (b, w), v in cpu.items() if b == "local")  # fmt: skip
    curve.notes.append(f"local pool CPU time (all its processes), median: {local}")
    return curve
