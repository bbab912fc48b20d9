"""Run a suite of cells into a results store, resuming where a previous run stopped.

Several runs may share one run directory: each claims a cell just before it starts it
(:mod:`advrl.bench.claims`), skips cells that another live run holds, and at the end waits
for those, taking over any whose run died.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from advrl.bench.backends import check_backend, run_backend
from advrl.bench.claims import Claim, Claims
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
    elsewhere: list[str] = field(default_factory=list)
    """Keys of the cells another run on the same directory computed meanwhile."""


def run_suite(
    cells: list,
    out_dir: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    fn=run_cell,
    poll: float = 2.0,
) -> RunSummary:
    """Run every cell not yet in ``out_dir``'s store; each result is stored as it finishes.

    Args:
        cells: the suite.
        out_dir: run directory (created); holds ``cells/`` and, after :func:`write_reports`,
            the CSV, Markdown and PNG reports. Runs started on one directory at the same
            time share its cells: each cell is computed once.
        backend: ``"local"`` (process pool) or ``"ray"``.
        workers: parallel cells (default: all cores).
        poll: seconds between looks at cells that another run is computing.
    """
    check_backend(backend)
    store, claims = ResultsStore(out_dir), Claims(out_dir)
    unique = list(dict.fromkeys(cells))
    finished = {c.key for c in unique if store.done(c)}
    skipped = [c.key for c in unique if c.key in finished]
    todo = [c for c in unique if c.key not in finished]
    start = time.perf_counter()
    computed: list[str] = []
    elsewhere: list[str] = []
    held: dict[str, Claim] = {}
    bar = tqdm(
        total=len(unique), initial=len(skipped), desc="cells", unit="cell", disable=not progress
    )

    def claimed(suite: list, busy: list) -> Iterator:
        """The cells of ``suite`` this run now holds; ``busy`` gets those another run holds."""
        for cell in suite:
            if store.done(cell):  # another run stored it meanwhile
                elsewhere.append(cell.key)
                bar.update(1)
                continue
            claim = claims.take(cell.key)
            if claim is None:
                busy.append(cell)
                continue
            if store.done(cell):  # its last holder stored it between our look and our claim
                claim.release()
                elsewhere.append(cell.key)
                bar.update(1)
                continue
            held[cell.key] = claim
            yield cell

    with bar:
        try:
            while todo:
                busy: list = []
                mine = claimed(todo, busy)
                first = next(mine, None)  # start no backend (Ray) for nothing to run
                runs = [] if first is None else run_backend(
                    backend, itertools.chain([first], mine), fn, workers=workers, address=address
                )  # fmt: skip
                for cell, result in runs:
                    store.put(cell, result)
                    held.pop(cell.key).release()
                    computed.append(cell.key)
                    if "mean_return" in result:  # not every study has one number
                        bar.set_postfix_str(f"{cell.label}: {result['mean_return']:.0f}")
                    else:
                        bar.set_postfix_str(cell.label)
                    bar.update(1)
                todo = busy
                if todo:  # another run holds them: wait until it stores them or dies
                    owners = sorted({claims.owner(c.key) or "?" for c in todo})
                    bar.set_postfix_str(
                        f"waiting for {len(todo)} cells another run computes (pid host: "
                        f"{', '.join(owners)})"
                    )
                    time.sleep(poll)
        finally:
            for claim in held.values():
                claim.release()
    return RunSummary(computed=computed, skipped=skipped, seconds=time.perf_counter() - start,
                      elsewhere=elsewhere)  # fmt: skip
