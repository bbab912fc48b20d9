"""The robustness suite: a protagonist's return over a grid of mass x friction multipliers.

One cell per (model, mass, friction); the report draws one heatmap per model and writes the
grid as CSV. SB3 zips are loaded with SB3's loader, which unpickles some fields: only point
it at models you trust.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key
from advrl.bench.plotting import Panels, pooled_std, save_png
from advrl.bench.report import (
    count_text,
    seeds_text,
    setting_order,
    settings_label,
    summary,
    to_csv,
    varying_settings,
)
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes


@dataclass(frozen=True)
class RobustnessCell:
    """A saved protagonist evaluated with scaled masses and frictions (no adversary)."""

    label: str
    algo: str
    path: str
    env: str
    mass_scale: float
    friction_scale: float
    bodies: tuple[str, ...] | None = None
    episodes: int = 5
    seed: int = 0

    kind: ClassVar[str] = "robustness"

    def __post_init__(self) -> None:
        from advrl.agents.rarl import ALGOS

        for name in ("mass_scale", "friction_scale"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.algo not in ALGOS:
            raise ValueError(f"unknown algorithm {self.algo!r}; allowed: {sorted(ALGOS)}")
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        return config_key(
            f"robust-{self.label}-m{self.mass_scale:g}-f{self.friction_scale:g}", self.to_dict()
        )

    def run(self) -> dict[str, Any]:
        from advrl.agents.rarl import ALGOS
        from advrl.agents.robustness import evaluate_protagonist

        model = ALGOS[self.algo].load(self.path, device="cpu")
        returns = evaluate_protagonist(
            model, self.env, mass_scale=self.mass_scale, friction_scale=self.friction_scale,
            bodies=list(self.bodies) if self.bodies else None, n_episodes=self.episodes,
            seed=self.seed,
        )  # fmt: skip
        return {"mean_return": float(returns.mean()), "returns": returns.tolist()}


def robustness_suite(
    models: dict[str, tuple[str, str]],
    env: str,
    masses: list[float],
    frictions: list[float],
    *,
    bodies: tuple[str, ...] | None = None,
    episodes: int = 5,
    seed: int = 0,
) -> list[RobustnessCell]:
    """``models``: label -> (algo, path to an SB3 zip). Every mass x friction per model.

    The env id, the body names and the files are checked here, before any cell runs."""
    for label, (_, path) in models.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"model {label!r}: no file at {path!r}")
        if not zipfile.is_zipfile(path):
            raise ValueError(f"model {label!r}: {path!r} is not an SB3 .zip")
    _check_task(env, bodies)
    return [
        RobustnessCell(label, algo, str(path), env, float(m), float(f), bodies, episodes, seed)
        for label, (algo, path) in models.items()
        for m in masses
        for f in frictions
    ]


def _check_task(env: str, bodies: tuple[str, ...] | None) -> None:
    """A MuJoCo env id that exists, and bodies it has (building it once costs ~0.1 s)."""
    import gymnasium as gym

    from advrl.envs.dynamics import PerturbDynamics

    try:
        made = gym.make(env)
    except gym.error.Error as err:
        raise ValueError(f"unknown env {env!r}: {err}") from err
    try:
        PerturbDynamics(made, bodies=list(bodies) if bodies else None)
    except TypeError as err:  # not a MuJoCo env
        raise ValueError(str(err)) from err
    finally:
        made.close()


GRID = ("label", "mass_scale", "friction_scale")


def write_robustness_report(run_dir: str | Path) -> dict[str, Path]:
    """``robustness.csv`` (one row per cell) and ``robustness.png`` (a heatmap per model).

    Cells of one label that differ in another setting (model file, bodies, episodes, ...)
    get a heatmap each, and the setting is a CSV column: grid points are never overwritten."""

    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("robustness")
    extra = varying_settings((r["cell"] for r in records), shown=GRID, within=("label",))
    columns = ["label", "env", *[k for k in extra if k != "env"], "mass_scale", "friction_scale",
               "mean_return"]  # fmt: skip
    rows = [{k: r["cell"].get(k, r["result"].get(k)) for k in columns} for r in records]
    rows.sort(key=lambda r: (r["label"], *(setting_order(r[k]) for k in extra),
                             r["mass_scale"], r["friction_scale"]))  # fmt: skip
    paths = {"csv": run_dir / "robustness.csv", "plot": run_dir / "robustness.png"}
    atomic_write_bytes(paths["csv"], to_csv(rows, columns).encode())
    if rows:
        save_png(_figure(records, extra), paths["plot"])
    return paths


def robustness_figure(run_dir: str | Path):
    """The figure :func:`write_robustness_report` saves (None for an empty store)."""
    records = ResultsStore(run_dir).records("robustness")
    if not records:
        return None
    extra = varying_settings((r["cell"] for r in records), shown=GRID, within=("label",))
    return _figure(records, extra)


def _figure(records: list[dict[str, Any]], extra: list[str]):
    """One heatmap per label and combination of the ``extra`` settings; each grid point shows
    its mean over seeds and episodes and ± their std (one colour bar: a heatmap's legend)."""
    cells = [r["cell"] for r in records]
    labels = list(dict.fromkeys(c["label"] + settings_label(c, extra) for c in cells))
    masses = sorted({c["mass_scale"] for c in cells})
    frictions = sorted({c["friction_scale"] for c in cells})
    points: dict[tuple, list[dict]] = {}
    for c, r in zip(cells, records, strict=True):
        key = (c["label"] + settings_label(c, extra), c["mass_scale"], c["friction_scale"])
        points.setdefault(key, []).append(r["result"])
    values = [r["result"]["mean_return"] for r in records]
    low, high = min(values), max(values)
    panels = Panels(len(labels), width=4.4, height=4.0)
    for ax, label in zip(panels.axes, labels, strict=True):
        grid = np.full((len(masses), len(frictions)), np.nan)
        for (name, m, f), results in points.items():
            if name != label:
                continue
            i, j = masses.index(m), frictions.index(f)
            returns = [np.asarray(r.get("returns") or [r["mean_return"]], float) for r in results]
            grid[i, j] = float(np.mean([x.mean() for x in returns]))
            std = pooled_std([x.mean() for x in returns], [x.std() for x in returns],
                             [len(x) for x in returns])  # fmt: skip
            text = f"{grid[i, j]:.0f}" + (f"\n±{std:.0f}" if sum(map(len, returns)) > 1 else "")
            dark = high == low or (grid[i, j] - low) / (high - low) < 0.6  # viridis: dark low
            ax.text(j, i, text, ha="center", va="center", fontsize=6,
                    color="white" if dark else "black")  # fmt: skip
        image = ax.imshow(grid, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="viridis")
        ax.set_xticks(range(len(frictions)), [f"{f:g}" for f in frictions], rotation=90, fontsize=7)
        ax.set_yticks(range(len(masses)), [f"{m:g}" for m in masses], fontsize=7)
        ax.set_xlabel("friction multiplier")
        ax.set_ylabel("mass multiplier")
        ax.set_title(f"{label}: mean {np.nanmean(grid):.0f}", fontsize=9)
    panels.fig.colorbar(image, ax=panels.axes, label="mean return")
    return panels.finish(summary(
        "return over mass x friction multipliers",
        "env " + ", ".join(dict.fromkeys(c["env"] for c in cells)),
        count_text((c["episodes"] for c in cells), "episode") + " per grid point",
        seeds_text(c["seed"] for c in cells),
        "cells: mean ± std over seeds and episodes",
    ), grid=False)  # fmt: skip
