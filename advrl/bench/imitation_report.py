"""The imitation report, rebuilt from the store: ``imitation.{csv,md,png}``.

Per task and arm: the learner's final and peak true return (deterministic evaluation) as a
fraction of the expert's return on the demonstration episodes, mean over seeds, with the
discriminator's last local Lipschitz estimate and the training throughput. The figure shows
true return against env steps (the expert as a dashed level) and the Lipschitz estimate.
Cells that differ in a setting beyond task, arm and seed are never averaged together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from advrl.bench.imitation import ARMS
from advrl.bench.plotting import Panels, curve_band, save_png
from advrl.bench.report import (
    caption,
    count_text,
    fixed_settings,
    markdown_columns,
    seeds_text,
    setting_key,
    setting_order,
    setting_text,
    settings_label,
    summary,
    to_csv,
    varying_settings,
)
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

SHOWN = ("task", "arm")
ARM_LABEL = {"gp": "AIL + GP", "no_gp": "AIL, no GP", "sac": "SAC (true reward)"}
"""Learner names in tables and legends (GP: the discriminator's gradient penalty)."""


def _rows(records: list[dict], extra: list[str]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        c, res = r["cell"], r["result"]
        lip = res.get("lipschitz") or []
        rows.append({"task": c["task"], "arm": c["arm"], **{k: c.get(k) for k in extra},
                     "seed": c["seed"],
                     "expert_return": res["expert_return"], "final_return": res["final_return"],
                     "fraction": res["fraction"], "peak_fraction": res["peak_fraction"],
                     "lipschitz": lip[-1][1] if lip else None,
                     "steps_per_second": res["steps_per_second"]})  # fmt: skip
    order = {a: i for i, a in enumerate(ARMS)}
    rows.sort(key=lambda r: (r["task"], order.get(r["arm"], 9),
                             *(setting_order(r[k]) for k in extra), r["seed"]))  # fmt: skip
    return rows


def write_imitation_report(run_dir: str | Path) -> dict[str, Path]:
    """``imitation.csv``/``.md`` (a row per cell in the CSV; means over seeds in the
    table) and ``imitation.png`` (true return and Lipschitz estimate against env steps)."""
    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("imitation")
    cells = [r["cell"] for r in records]
    extra = varying_settings(cells, shown=SHOWN, within=("task",))
    rows = _rows(records, extra)
    metrics = ["expert_return", "final_return", "fraction", "peak_fraction", "lipschitz",
               "steps_per_second"]  # fmt: skip
    paths = {"csv": run_dir / "imitation.csv", "markdown": run_dir / "imitation.md",
             "plot": run_dir / "imitation.png"}  # fmt: skip
    atomic_write_bytes(paths["csv"], to_csv(rows, ["task", "arm", *extra, "seed", *metrics])
                       .encode())  # fmt: skip
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["arm"], *(setting_key(r[k]) for k in extra)),
                          []).append(r)  # fmt: skip
    head, align = markdown_columns(extra)
    lines = [caption(*fixed_settings(cells, skip=(*SHOWN, "seed", *extra)),
                     seeds_text(c["seed"] for c in cells),
                     "GP: the discriminator's gradient penalty",
                     "true returns of the deterministic policy; fractions of the expert's "
                     "return on the demonstration episodes; means over seeds"),
             "",
             f"| task | learner |{head} seeds | expert return | final return | final fraction | "
             "peak fraction | Lipschitz estimate (last) | env steps/s |",
             f"|---|---|{align}---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (task, arm, *_), rs in groups.items():
        m = {k: _mean([r[k] for r in rs]) for k in metrics}
        cols = "".join(f" {setting_text(rs[0][k])} |" for k in extra)
        lip = "-" if m["lipschitz"] is None else f"{m['lipschitz']:.2f}"
        lines.append(f"| {task} | {ARM_LABEL.get(arm, arm)} |{cols} {len(rs)} | "
                     f"{m['expert_return']:.0f} | {m['final_return']:.0f} | "
                     f"{m['fraction']:.2f} | {m['peak_fraction']:.2f} | {lip} | "
                     f"{m['steps_per_second']:.1f} |")  # fmt: skip
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if records:
        save_png(_figure(records, extra), paths["plot"])
    return paths


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def imitation_figure(run_dir: str | Path):
    """The figure :func:`write_imitation_report` saves (None for an empty store)."""
    records = ResultsStore(run_dir).records("imitation")
    if not records:
        return None
    extra = varying_settings([r["cell"] for r in records], shown=SHOWN, within=("task",))
    return _figure(records, extra)


def _figure(records: list[dict], extra: list[str]):
    """Per task: true return (top, expert dashed) and the discriminator's local Lipschitz
    estimate (bottom) against env steps, a line per learner (mean over seeds, band ± std
    over seeds; one seed: over its evaluation episodes)."""
    tasks = sorted({r["cell"]["task"] for r in records})
    panels = Panels(len(tasks), 2, width=4.8, height=3.4)
    order = {a: i for i, a in enumerate(ARMS)}
    for col, task in enumerate(tasks):
        mine = [r for r in records if r["cell"]["task"] == task]
        curves: dict[str, list] = {}
        stds: dict[str, list] = {}
        lips: dict[str, list] = {}
        for r in sorted(mine, key=lambda r: order.get(r["cell"]["arm"], 9)):
            label = ARM_LABEL.get(r["cell"]["arm"], r["cell"]["arm"]) + settings_label(
                r["cell"], extra)  # fmt: skip
            curves.setdefault(label, []).append(np.asarray(r["result"]["curve"], float))
            stds.setdefault(label, []).append(r["result"].get("curve_std"))
            if r["result"].get("lipschitz"):
                lips.setdefault(label, []).append(np.asarray(r["result"]["lipschitz"], float))
        top, bottom = panels.grid[0][col], panels.grid[1][col]
        for label in curves:
            x, mean, err = curve_band(curves[label], stds[label])
            panels.line(top, x, mean[:, 0], label, err=None if err is None else err[:, 0],
                        band=True)  # fmt: skip
            if label in lips:
                lx, lmean, lerr = curve_band(lips[label])
                panels.line(bottom, lx, lmean[:, 0], label,
                            err=None if lerr is None else lerr[:, 0], band=True)  # fmt: skip
        expert = float(np.mean([r["result"]["expert_return"] for r in mine]))
        panels.reference(top, expert, "expert")
        top.set_title(f"{task}: true return", fontsize=9)
        top.set_ylabel("return per episode")
        bottom.set_title(f"{task}: discriminator local Lipschitz estimate", fontsize=9)
        bottom.set_ylabel("max ||grad D|| over a batch")
        for ax in (top, bottom):
            ax.set_xlabel("env steps")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    cells = [r["cell"] for r in records]
    return panels.finish(summary(
        "off-policy adversarial imitation", "SAC on a discriminator reward",
        "GP: gradient penalty",
        count_text((c["steps"] for c in cells), "env step") + " per run",
        count_text((c["demo_episodes"] for c in cells), "expert episode"),
        seeds_text(c["seed"] for c in cells),
    ))  # fmt: skip
