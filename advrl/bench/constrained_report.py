"""The constrained-composite report, rebuilt from the store: ``constrained.{csv,md,png}``.

Per cell (task, seed): peak, final and drop of the gold return for PPO on the unconstrained
sum and for ConstrainedPPO under the proxy points found from it, the proxy points, the final
component returns and the throughput ratio. Cells that differ in a setting beyond task and
seed (steps, pairs, ...) get it as a column and are never averaged together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from advrl.bench.plotting import Panels, curve_band, save_png
from advrl.bench.report import (
    caption,
    fixed_settings,
    markdown_columns,
    seeds_text,
    setting_key,
    setting_text,
    settings_label,
    summary,
    to_csv,
    varying_settings,
)
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

LEARNERS = ("sum", "constrained")
METRICS = ("peak_gold", "final_gold", "gold_drop")


def _records(source) -> list[dict]:
    """Stored records of constrained cells from a run directory (or a list of records)."""
    if isinstance(source, str | Path):
        return ResultsStore(source).records("constrained")
    return list(source)


def _settings(cell: dict[str, Any]) -> dict[str, Any]:
    from advrl.bench.overoptimization import TASKS

    task = TASKS.get(cell["task"])
    return {**cell, "steps": cell.get("steps") or (task.ppo_steps if task else 0)}


def write_constrained_report(run_dir: str | Path, out_dir: str | Path | None = None):
    """``constrained.csv`` / ``.md`` / ``.png`` in ``out_dir`` (default: ``run_dir``) from
    the constrained cells of the store in ``run_dir``; returns ``{"csv", "markdown",
    "plot"}: path``."""
    records = _records(run_dir)
    out = Path(out_dir if out_dir is not None else run_dir)
    cells = [_settings(r["cell"]) for r in records]
    extra = varying_settings(cells, shown=("task",), within=("task",))
    rows = []
    for c, r in zip(cells, records, strict=True):
        res = r["result"]
        row = {"task": c["task"], **{k: c.get(k) for k in extra}, "seed": c["seed"]}
        for learner in LEARNERS:
            row.update({f"{learner}_{m}": res[learner][m] for m in METRICS})
        for name, value in res["proxy_points"].items():
            row[f"proxy_point_{name}"] = value
            for learner in LEARNERS:
                row[f"{learner}_final_{name}"] = res[learner]["final_components"][name]
        row["throughput_ratio"] = res["throughput_ratio"]
        rows.append(row)
    rows.sort(key=lambda r: (r["task"], *(setting_key(r[k]) for k in extra), r["seed"]))
    fields = list(dict.fromkeys(k for r in rows for k in r))
    paths = {"csv": out / "constrained.csv", "markdown": out / "constrained.md",
             "plot": out / "constrained.png"}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(paths["csv"], to_csv(rows, fields).encode())
    head, align = markdown_columns(extra)
    lines = [caption(*fixed_settings(cells, skip=("task", "seed", *extra)),
                     seeds_text(c["seed"] for c in cells),
                     "gold = true return of the training episodes; sum = PPO on the "
                     "unconstrained sum of the component rewards; constrained = ConstrainedPPO "
                     "with each component kept below its proxy point (found from the sum run)"),
             "",
             f"| task |{head} seed | learner | peak gold | final gold | drop | "
             "final components (proxy points) | throughput vs sum |",
             f"|---|{align}---:|---|---:|---:|---:|---|---:|"]  # fmt: skip
    for r in rows:
        cols = "".join(f" {setting_text(r[k])} |" for k in extra)
        names = [k.removeprefix("proxy_point_") for k in r if k.startswith("proxy_point_")]
        for learner in LEARNERS:
            parts = ", ".join(f"{n} {r[f'{learner}_final_{n}']:.0f} ({r[f'proxy_point_{n}']:.0f})"
                              for n in names)  # fmt: skip
            ratio = f"{r['throughput_ratio']:.2f}" if learner == "constrained" else "1"
            lines.append(f"| {r['task']} |{cols} {r['seed']} | {learner} | "
                         f"{r[f'{learner}_peak_gold']:.1f} | {r[f'{learner}_final_gold']:.1f} | "
                         f"{r[f'{learner}_gold_drop']:.1f} | {parts} | {ratio} |")  # fmt: skip
    groups: dict[tuple, list[dict]] = {}
    for r in rows:  # means never merge cells of different settings
        groups.setdefault((r["task"], *(setting_key(r[k]) for k in extra)), []).append(r)
    for (task, *_), rs in groups.items():
        settings = "".join(f", {k} {setting_text(rs[0][k])}" for k in extra)
        means = "; ".join(
            f"{learner}: drop {np.mean([r[f'{learner}_gold_drop'] for r in rs]):.1f}, final gold "
            f"{np.mean([r[f'{learner}_final_gold'] for r in rs]):.1f}"
            for learner in LEARNERS
        )
        ratio = np.mean([r["throughput_ratio"] for r in rs])
        lines += ["", f"Mean over {len(rs)} seed(s), {task}{settings}: {means}; throughput "
                  f"ratio {ratio:.2f}"]  # fmt: skip
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if records:
        save_png(_figure(cells, records, extra), paths["plot"])
    return paths


def constrained_figure(run_dir: str | Path):
    """The figure :func:`write_constrained_report` saves (None for an empty store)."""
    records = _records(run_dir)
    if not records:
        return None
    cells = [_settings(r["cell"]) for r in records]
    return _figure(cells, records, varying_settings(cells, shown=("task",), within=("task",)))


def _figure(cells: list[dict], records: list[dict], extra: list[str]):
    """Per task: gold return (top) and each component's return (below, with its proxy points
    dashed) over training, a line per learner (mean over seeds, band ± std over seeds)."""
    tasks = sorted({c["task"] for c in cells})
    names = list(records[0]["result"]["proxy_points"])
    panels = Panels(len(tasks), 1 + len(names), width=5.2, height=3.2)
    for col, task in enumerate(tasks):
        curves: dict[str, list[np.ndarray]] = {}
        for c, r in zip(cells, records, strict=True):
            if c["task"] != task:
                continue
            for learner in LEARNERS:
                label = learner + settings_label(c, extra)
                curve = np.asarray(r["result"][learner]["curve"])
                curves.setdefault(label, []).append(curve[:, [0, 1, *range(3, curve.shape[1])]])
            for row, name in enumerate(names, start=1):
                level = r["result"]["proxy_points"][name]
                panels.grid[row][col].axhline(level, color="grey", linestyle="--", linewidth=1)
        for label, runs in curves.items():
            x, mean, err = curve_band(runs)
            for row in range(1 + len(names)):
                panels.line(panels.grid[row][col], x, mean[:, row], label,
                            err=None if err is None else err[:, row], band=True)  # fmt: skip
        for row, what in enumerate(["gold (true) return", *(f"{n} return" for n in names)]):
            ax = panels.grid[row][col]
            ax.set_title(f"{task}: {what}" + (" (dashed: proxy points)" if row else ""),
                         fontsize=9)  # fmt: skip
            ax.set_xlabel("env steps")
            ax.set_ylabel("per episode")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    return panels.finish(summary(
        "composite reward: sum vs ConstrainedPPO",
        seeds_text(c["seed"] for c in cells),
        "lines: mean over seeds; band: ± std over seeds",
    ))  # fmt: skip
