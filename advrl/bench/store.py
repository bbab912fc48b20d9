"""The results store: one JSON file per finished cell, written atomically, checked on read."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from advrl.bench.cells import Cell
from advrl.zoo.checkpoint import atomic_write_bytes


class ResultsStore:
    """Finished cells of a run directory (``<run>/cells/<key>.json``).

    A cell's file appears all at once (write to a temp file, then rename), so a run killed at
    any moment leaves only complete results; rerunning skips every stored cell. A file that
    is not a valid record of its cell (truncated, empty, edited, copied from another cell) is
    moved to ``cells/corrupt/`` with a warning, and its cell counts as not done.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.cells_dir = self.run_dir / "cells"
        self.cells_dir.mkdir(parents=True, exist_ok=True)

    def path(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.key}.json"

    def done(self, cell: Cell) -> bool:
        """Whether ``cell`` has a valid stored result (an invalid file is moved aside)."""
        return self._load(self.path(cell), cell) is not None

    def put(self, cell: Cell, result: dict[str, Any]) -> None:
        record = {"cell": cell.to_dict(), "result": result}
        atomic_write_bytes(self.path(cell), (json.dumps(record, indent=1) + "\n").encode())

    def get(self, cell: Cell) -> dict[str, Any]:
        record = self._load(self.path(cell), cell)
        if record is None:
            raise FileNotFoundError(f"no valid result for cell {cell.key!r} in {self.cells_dir}")
        return record["result"]

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every stored record (or those of one cell ``kind``), in a stable order.

        Records written by advrl 0.1 pre-releases (cells without a ``kind``) are skipped with
        a warning: their cells have other keys now, so a rerun recomputes them, and mixing
        them in would report each cell twice. Invalid files are moved aside (see the class).
        """
        out, legacy = [], 0
        for path in sorted(self.cells_dir.glob("*.json")):
            record = self._load(path)
            if record is None:
                continue
            if "kind" not in record["cell"]:
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

    def _load(self, path: Path, cell: Cell | None = None) -> dict[str, Any] | None:
        """The record in ``path`` (of ``cell``, if given); None if missing or invalid."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        record, problem = _parse(text, cell)
        if problem is None:
            return record
        self._quarantine(path, problem)
        return None

    def _quarantine(self, path: Path, problem: str) -> None:
        corrupt = self.cells_dir / "corrupt"
        corrupt.mkdir(exist_ok=True)
        dest, n = corrupt / path.name, 1
        while dest.exists():  # keep every bad copy: each may be evidence of a different fault
            dest, n = corrupt / f"{path.stem}.{n}{path.suffix}", n + 1
        try:
            os.replace(path, dest)
        except FileNotFoundError:  # another run on this directory moved it first
            return
        warnings.warn(
            f"results file {str(path)!r} is {problem}; moved it to {str(dest)!r}, and its cell "
            "is recomputed",
            stacklevel=4,  # the caller of done(), get() or records()
        )


def _parse(text: str, cell: Cell | None) -> tuple[Any, str | None]:
    """``(record, None)`` if ``text`` is a valid record (of ``cell``), else ``(None, why)``."""
    if not text.strip():
        return None, "empty"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"not valid JSON (truncated?): {err}"
    if not isinstance(record, dict) or not {"cell", "result"} <= set(record):
        return None, "not a record (a JSON object with 'cell' and 'result')"
    if not isinstance(record["cell"], dict) or not isinstance(record["result"], dict):
        return None, "not a record ('cell' and 'result' must be JSON objects)"
    # Compare as JSON: tuples in a config come back as lists.
    if cell is not None and record["cell"] != json.loads(json.dumps(cell.to_dict())):
        return None, f"the record of another cell ({record['cell']})"
    return record, None
