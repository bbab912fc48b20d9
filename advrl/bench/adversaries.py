"""Adversary training as a bench cell: trained once per victim and budget, stored, reused.

A :class:`TrainAdversaryCell` trains one learned adversary (optimal attack, Robust Sarsa
critic, PA-AD director; :func:`advrl.attacks.learned.train_adversary`) and writes it into its
run directory as ``adversaries/<cell key>.safetensors`` with its card. The runner stores the
cell's result only after the file is complete, so a stored cell always has its adversary,
and a rerun (or a resumed, killed run) never trains it again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from advrl.bench.cells import config_key
from advrl.bench.store import ResultsStore


@dataclass(frozen=True)
class TrainAdversaryCell:
    """Train one learned adversary against a zoo victim; its file goes into the run directory.

    Args:
        adversary_kind: ``advrl.attacks.learned.ADVERSARY_KINDS`` (rs serves rs and rs_mad).
        victim: zoo name of the victim. eps, norm: the budget.
        steps: training env steps. seed: training seed.
        victim_digest: the victim checkpoint's digest when the suite was built, so a
            retrained victim gets a new cell (and adversary) instead of a refused file.
        options: extra trainer keyword arguments, as sorted ``(name, value)`` pairs.
        run_dir: where the file is written; not part of the config (see :class:`Cell`).

    ``run()`` reports ``mean_return`` = minus the adversary's final training return, i.e.
    the victim's mean return under the adversary over its last training episodes (the victim
    samples its actions then; NaN when the trainer records none, e.g. Robust Sarsa).
    """

    adversary_kind: str
    victim: str
    eps: float
    steps: int
    norm: str = "linf"
    seed: int = 0
    victim_digest: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    run_dir: str | None = field(default=None, compare=False, repr=False)

    kind: ClassVar[str] = "adversary"

    def __post_init__(self) -> None:
        from advrl.attacks.balls import NORMS
        from advrl.attacks.learned.registry import check_adversary_kind

        check_adversary_kind(self.adversary_kind)
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; allowed: {list(NORMS)}")
        if not math.isfinite(self.eps) or self.eps <= 0:
            raise ValueError(f"an adversary's eps must be a finite number > 0, got {self.eps!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"adversary steps must be an integer >= 1, got {self.steps!r}")
        if list(self.options) != sorted(self.options) or not all(
            isinstance(k, str) for k, _ in self.options
        ):
            raise ValueError(f"options must be sorted (name, value) pairs, got {self.options!r}")

    @property
    def label(self) -> str:
        return f"train {self.adversary_kind} vs {self.victim} eps={self.eps:g} seed={self.seed}"

    def to_dict(self) -> dict[str, Any]:
        config = {"kind": self.kind, **asdict(self)}
        del config["run_dir"]
        return config

    @property
    def key(self) -> str:
        from advrl.attacks.learned.victims import victim_name

        prefix = f"adv-{self.adversary_kind}-{victim_name(self.victim)}-{self.eps:g}-s{self.seed}"
        return config_key(prefix, self.to_dict())

    @property
    def path(self) -> str:
        """The adversary file, relative to the run directory."""
        return f"adversaries/{self.key}.safetensors"

    @property
    def command(self) -> str:
        return (
            f"python -m advrl.attacks.learned.train --kind {self.adversary_kind} --victim "
            f"{self.victim} --steps {self.steps} --eps {self.eps:g} --norm {self.norm} --seed "
            f"{self.seed}" + (f" (trainer options {dict(self.options)})" if self.options else "")
            + f"  # advrl bench leaderboard cell {self.key}"
        )  # fmt: skip

    def run(self) -> dict[str, Any]:
        from advrl.attacks.learned import registry
        from advrl.attacks.learned.victims import victim_digest

        if self.run_dir is None:
            raise ValueError(
                f"{self.label}: no run directory to write the adversary to; run the suite with "
                "run_leaderboard()"
            )
        if self.victim_digest is not None and victim_digest(self.victim) != self.victim_digest:
            raise ValueError(
                f"victim {self.victim!r} changed since the suite was built (digest "
                f"{victim_digest(self.victim)}, not {self.victim_digest}); rebuild the suite"
            )
        trained = registry.train_adversary(
            self.adversary_kind, self.victim, self.eps, self.steps, norm=self.norm,
            seed=self.seed, **dict(self.options),
        )  # fmt: skip
        # The file is complete before the runner stores this result: a stored cell always
        # has its adversary (a kill in between retrains it on resume).
        trained.save(Path(self.run_dir) / self.path, command=self.command)
        final = trained.card.final_adversary_return
        return {
            "mean_return": -float(final) if final is not None else math.nan,
            "final_adversary_return": final,
            "adversary": self.path,
            "train_seconds": trained.card.train_seconds,
            "steps": self.steps,
        }


def check_adversaries(training: Iterable[TrainAdversaryCell], run_dir: str | Path) -> None:
    """Every stored adversary cell must still have its file.

    Raises:
        FileNotFoundError: naming the file and the stored result to delete to retrain it.
    """
    store = ResultsStore(run_dir)
    for cell in training:
        if store.done(cell) and not (Path(run_dir) / cell.path).is_file():
            raise FileNotFoundError(
                f"adversary file {str(Path(run_dir) / cell.path)!r} is missing although its "
                f"training cell is stored; delete {str(store.path(cell))!r} to retrain it (on a "
                "Ray cluster, put the run directory on storage every node shares)"
            )


def trained_adversaries(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Stored adversary cells by file (relative path): ``{path: config}``."""
    out = {}
    for record in ResultsStore(run_dir).records("adversary"):
        path = record["result"].get("adversary")
        if isinstance(path, str):
            out[path] = record["cell"]
    return out
