"""Execution backends: where cells run. Both yield ``(cell, result)`` as cells finish.

Results depend only on the cell (seeded envs and attack, single-threaded torch), so the
local pool and Ray give identical numbers for the same suite.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from advrl.bench.cells import Cell

CellFn = Callable[[Cell], dict[str, Any]]
BACKENDS = ("local", "ray")


def run_local(
    cells: list[Cell], fn: CellFn, workers: int | None = None
) -> Iterator[tuple[Cell, dict]]:
    """Run cells on a process pool over the cores (inline when ``workers == 1``)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(cells) == 1:
        for cell in cells:
            yield cell, fn(cell)
        return
    # spawn: fresh interpreters, no forked torch/MuJoCo state.
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending = {pool.submit(fn, cell): cell for cell in cells}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()


def run_ray(
    cells: list[Cell], fn: CellFn, address: str | None = None, workers: int | None = None
) -> Iterator[tuple[Cell, dict]]:
    """Run cells as Ray tasks (a local Ray instance unless ``address`` is given)."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            "the ray backend needs Ray: pip install 'advrl[ray]' (or pip install ray)"
        ) from err
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=workers if address is None else None,
                 include_dashboard=False, log_to_driver=False)  # fmt: skip
    try:
        remote_fn = ray.remote(num_cpus=1)(fn)
        pending = {remote_fn.remote(cell): cell for cell in cells}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started_here:
            ray.shutdown()


def run_backend(
    name: str, cells: list[Cell], fn: CellFn, workers: int | None = None, address: str | None = None
) -> Iterator[tuple[Cell, dict]]:
    if name == "local":
        return run_local(cells, fn, workers)
    if name == "ray":
        return run_ray(cells, fn, address, workers)
    raise ValueError(f"unknown backend {name!r}; allowed: {list(BACKENDS)}")
