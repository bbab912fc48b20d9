"""Execution backends: where cells run. Both yield ``(cell, result)`` as cells finish.

Cells are pulled from the given iterable only when a worker is free to start one, so a
runner can claim each cell just before it starts (several runs then share one suite).
Results depend only on the cell (seeded envs and attack, single-threaded torch), so the
local pool and Ray give identical numbers for the same suite.
"""

from __future__ import annotations

import ctypes
import importlib.util
import itertools
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from advrl.bench.cells import Cell

CellFn = Callable[[Cell], dict[str, Any]]
BACKENDS = ("local", "ray")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """Pool initializer: the worker dies with the run that started it.

    A killed run must not leave workers computing cells that nobody will store. Linux gets
    ``PR_SET_PDEATHSIG`` (SIGKILL when the parent dies); everywhere, a daemon thread also
    polls ``os.getppid()`` (it changes once the parent is gone), which covers other systems.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="advrl-exit-with-parent", daemon=True).start()


def run_local(
    cells: Iterable[Cell], fn: CellFn, workers: int | None = None
) -> Iterator[tuple[Cell, dict]]:
    """Run cells on a process pool over the cores (inline for one worker or one cell)."""
    workers = workers or os.cpu_count() or 1
    cells = iter(cells)
    first = list(itertools.islice(cells, 2 if workers > 1 else 1))
    if workers == 1 or len(first) < 2:
        for cell in itertools.chain(first, cells):
            yield cell, fn(cell)
        return
    # spawn: fresh interpreters, no forked torch/MuJoCo state.
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"),
        initializer=exit_with_parent, initargs=(os.getpid(),),
    )  # fmt: skip
    pending = {pool.submit(fn, cell): cell for cell in first}
    try:
        while True:
            for cell in itertools.islice(cells, workers - len(pending)):
                pending[pool.submit(fn, cell)] = cell
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield pending.pop(future), future.result()
    finally:
        if pending:  # an error or an abandoned run: stop now, not after the running cells
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=not pending, cancel_futures=True)


def run_ray(
    cells: Iterable[Cell], fn: CellFn, address: str | None = None, workers: int | None = None
) -> Iterator[tuple[Cell, dict]]:
    """Run cells as Ray tasks (a local Ray instance unless ``address`` is given)."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=workers if address is None else None,
                 include_dashboard=False, log_to_driver=False)  # fmt: skip
    try:
        slots = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote_fn = ray.remote(num_cpus=1)(fn)
        cells = iter(cells)
        pending: dict = {}
        while True:
            for cell in itertools.islice(cells, slots - len(pending)):
                pending[remote_fn.remote(cell)] = cell
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()


def check_backend(name: str) -> None:
    """Raise a clear error (before any work) if ``name`` is not a backend that can run here."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; allowed: {list(BACKENDS)}")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise ImportError(
            "the ray backend needs Ray: pip install 'advrl[ray]' (or pip install ray)"
        )


def run_backend(
    name: str,
    cells: Iterable[Cell],
    fn: CellFn,
    workers: int | None = None,
    address: str | None = None,
) -> Iterator[tuple[Cell, dict]]:
    check_backend(name)
    if name == "local":
        return run_local(cells, fn, workers)
    return run_ray(cells, fn, address, workers)
