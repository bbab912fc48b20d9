"""Run a suite of cells into a results store, resuming where a previous run stopped."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from advrl.bench.backends import run_backend
from advrl.bench.cells import Cell
from advrl.bench.store import ResultsStore


def run_cell(cell: Cell) -> dict[str, Any]:
    """Evaluate one cell: load the zoo policy, attack it, return the episode statistics."""
    import numpy as np
    import torch as th

    import advrl.zoo
    from advrl.attacks import evaluate_under_attack, make_attack

    th.set_num_threads(1)  # one cell per core; also makes results independent of the host
    victim = advrl.zoo.load(cell.policy)
    attack = None if cell.clean else make_attack(cell.attack, cell.eps, cell.norm)
    result = evaluate_under_attack(
        victim,
        cell.env,
        attack,
        cell.episodes,
        n_envs=min(cell.n_envs, cell.episodes),
        seed=cell.seed,
    )
    return {
        "mean_return": result.mean_return,
        "std_return": float(np.std(result.returns)),
        "returns": result.returns.tolist(),
        "mean_length": float(np.mean(result.lengths)),
        "mean_attack_norm": result.mean_attack_norm,
        "max_attack_norm": result.max_attack_norm,
        "steps": result.steps,
        "seconds": round(result.seconds, 3),
    }


@dataclass(frozen=True)
class RunSummary:
    computed: list[str]
    """Keys of the cells computed by this call."""
    skipped: list[str]
    """Keys of the cells found finished in the store."""
    seconds: float


def run_suite(
    cells: list[Cell],
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
            bar.set_postfix_str(
                f"{cell.policy} {cell.attack} eps={cell.eps:g}: {result['mean_return']:.0f}"
            )
            bar.update(1)
    return RunSummary(computed=computed, skipped=skipped, seconds=time.perf_counter() - start)
