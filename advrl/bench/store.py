"""The results store: one JSON file per finished cell, written atomically."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from advrl.bench.cells import Cell
from advrl.zoo.checkpoint import atomic_write_bytes


class ResultsStore:
    """Finished cells of a run directory (``<run>/cells/<key>.json``).

    A cell's file appears all at once (write to a temp file, then rename), so a run killed at
    any moment leaves only complete results; rerunning skips every stored cell.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.cells_dir = self.run_dir / "cells"
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def path(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.key}.json"

    def done(self, cell: Cell) -> bool:
        return self.path(cell).is_file()

    def put(self, cell: Cell, result: dict[str, Any]) -> None:
        record = {"cell": cell.to_dict(), "result": result}
        atomic_write_bytes(self.path(cell), (json.dumps(record, indent=1) + "\n").encode())

    def get(self, cell: Cell) -> dict[str, Any]:
        return json.loads(self.path(cell).read_text())["result"]

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every stored record (or those of one cell ``kind``), in a stable order.

        Records written by advrl 0.1 pre-releases (cells without a ``kind``) are skipped with
        a warning: their cells have other keys now, so a rerun recomputes them, and mixing
        them in would report each cell twice.
        """
        out, legacy = [], 0
        for path in sorted(self.cells_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"results file {str(path)!r} is corrupt: {err}") from err
            if "kind" not in record.get("cell", {}):
                legacy += 1
            elif kind is None or record["cell"]["kind"] == kind:
                out.append(record)
        if legacy:
            warnings.warn(
                f"{legacy} result files in {str(self.cells_dir)!r} are in a pre-release format "
                "and were ignored; their cells are recomputed on a rerun",
                stacklevel=2,
            )
        return out
