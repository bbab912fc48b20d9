"""Run a suite of cells into a results store, resuming where a previous run stopped."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from advrl.bench.backends import run_backend
from advrl.bench.store import ResultsStore


def run_cell(cell: Any) -> dict[str, Any]:
    """Run one cell (any cell type with a ``run()`` method) single-threaded."""
    import torch as th

    th.set_num_threads(1)  # one cell per core; also makes results independent of the host
    return cell.run()


@dataclass(frozen=True)
class RunSummary:
    computed: list[str]
    """Keys of the cells computed by this call."""
    skipped: list[str]
    """Keys of the cells found finished in the store."""
    seconds: float


def run_suite(
    cells: list,
    out_dir: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    fn=run_cell,
) -> RunSummary:
    """Run every cell not yet in ``out_dir``'s store; each result is stored as it finishes.

    Args:
        cells: the suite.
        out_dir: run directory (created); holds ``cells/`` and, after :func:`write_reports`,
            the CSV, Markdown and PNG reports.
        backend: ``"local"`` (process pool) or ``"ray"``.
        workers: parallel cells (default: all cores).
    """
    store = ResultsStore(out_dir)
    unique = list(dict.fromkeys(cells))
    todo = [c for c in unique if not store.done(c)]
    skipped = [c.key for c in unique if store.done(c)]
    start = time.perf_counter()
    computed = []
    bar = tqdm(
        total=len(unique), initial=len(skipped), desc="cells", unit="cell", disable=not progress
    )
    with bar:
        for cell, result in run_backend(backend, todo, fn, workers=workers, address=address):
            store.put(cell, result)
            computed.append(cell.key)
            bar.set_postfix_str(f"{cell.label}: {result['mean_return']:.0f}")
            bar.update(1)
    return RunSummary(computed=computed, skipped=skipped, seconds=time.perf_counter() - start)
