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
from advrl.bench.plotting import panels, save_png
from advrl.bench.report import setting_order, settings_label, to_csv, varying_settings
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


def write_robustness_report(run_dir: str | Path) -> dict[str, Path]:
    """``robustness.csv`` (one row per cell) and ``robustness.png`` (a heatmap per model).

    Cells of one label that differ in another setting (model file, bodies, episodes, ...)
    get a heatmap each, and the setting is a CSV column: grid points are never overwritten."""

    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("robustness")
    grid = ("label", "mass_scale", "friction_scale")
    extra = varying_settings((r["cell"] for r in records), shown=grid, within=("label",))
    columns = ["label", "env", *[k for k in extra if k != "env"], "mass_scale", "friction_scale",
               "mean_return"]  # fmt: skip
    rows = [{k: r["cell"].get(k, r["result"].get(k)) for k in columns} for r in records]
    rows.sort(key=lambda r: (r["label"], *(setting_order(r[k]) for k in extra),
                             r["mass_scale"], r["friction_scale"]))  # fmt: skip
    paths = {"csv": run_dir / "robustness.csv", "plot": run_dir / "robustness.png"}
    atomic_write_bytes(paths["csv"], to_csv(rows, columns).encode())
    if rows:
        _heatmaps(rows, extra, paths["plot"])
    return paths


def _heatmaps(rows: list[dict[str, Any]], extra: list[str], path: Path) -> None:
    """One heatmap per label and combination of the ``extra`` settings."""
    panel = {id(r): r["label"] + settings_label(r, extra) for r in rows}
    labels = list(dict.fromkeys(panel.values()))
    masses = sorted({r["mass_scale"] for r in rows})
    frictions = sorted({r["friction_scale"] for r in rows})
    values = [r["mean_return"] for r in rows]
    vmin, vmax = min(values), max(values)
    fig, axes = panels(len(labels), width=4.2, height=3.8)
    for ax, label in zip(axes, labels, strict=True):
        grid = np.full((len(masses), len(frictions)), np.nan)
        for r in rows:
            if panel[id(r)] == label:
                grid[masses.index(r["mass_scale"]), frictions.index(r["friction_scale"])] = r[
                    "mean_return"
                ]
        image = ax.imshow(grid, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_xticks(range(len(frictions)), [f"{f:g}" for f in frictions], rotation=90, fontsize=7)
        ax.set_yticks(range(len(masses)), [f"{m:g}" for m in masses], fontsize=7)
        ax.set_xlabel("friction multiplier")
        ax.set_ylabel("mass multiplier")
        ax.set_title(f"{label}: mean {np.nanmean(grid):.0f}")
    fig.colorbar(image, ax=axes, label="mean return")
    save_png(fig, path, tight=True)
