"""A toy cell for runner tests: instant or sleeping, and it logs which process computed it.

A module of its own (not a test file) so spawned pool workers can import it by name.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from advrl.bench.cells import config_key


@dataclass(frozen=True)
class ToyCell:
    name: str
    seconds: float = 0.0
    log: str = ""
    """File each computation appends ``"<key> <pid>"`` to (at its start)."""
    fail: str = ""
    """If set, the cell raises ``ValueError(fail)`` after its sleep."""
    wait_for: str = ""
    """Key of a cell whose start (in ``log``) this one waits for before it sleeps."""

    kind: ClassVar[str] = "toy"

    @property
    def label(self) -> str:
        return f"toy {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        return config_key(f"toy-{self.name}", self.to_dict())

    def run(self) -> dict[str, Any]:
        if self.log:
            with open(self.log, "a") as f:  # one short append per line: atomic under O_APPEND
                f.write(f"{self.key} {os.getpid()}\n")
        while self.wait_for and self.wait_for not in dict(computations(self.log)):
            time.sleep(0.05)
        time.sleep(self.seconds)
        if self.fail:
            raise ValueError(self.fail)
        return {"mean_return": float(len(self.name)), "pid": os.getpid()}


def run_toy(cell: ToyCell) -> dict[str, Any]:
    """A cell function without torch (run_cell imports it), so workers start fast."""
    return cell.run()


def computations(log: str) -> list[tuple[str, int]]:
    """``(key, pid)`` per computation logged to ``log``."""
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [(k, int(p)) for k, p in (line.split() for line in f if line.strip())]
