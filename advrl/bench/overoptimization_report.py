"""The overoptimisation report, rebuilt from the store: ``overoptimization.{csv,md,png}``.

Peak, final and drop of the gold return per served reward (mean over seeds), and gold and
proxy curves per task and method. Cells that differ in a setting beyond task, method,
served reward and seed (PPO steps, pairs, ...) are never averaged together: the setting
becomes a column; the settings they share are named above the table and in the title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from advrl.bench.overoptimization import SERVED, TASKS, served_label
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


def _settings(cell: dict[str, Any]) -> dict[str, Any]:
    """A stored cell's config with the task's defaults for ``steps`` / ``episodes`` = 0
    (both mean the same run; the report shows the real number)."""
    task = TASKS.get(cell["task"])
    if task is None:
        return cell
    return {**cell, "steps": cell.get("steps") or task.ppo_steps,
            "episodes": cell.get("episodes") or task.bon_episodes}  # fmt: skip


def write_overoptimization_report(run_dir: str | Path) -> dict[str, Path]:
    """``overoptimization.csv``/``.md`` (peak, final and drop of gold per served reward,
    mean over seeds) and ``overoptimization.png`` (gold and proxy curves per task/method).

    Cells that differ in a setting beyond task, method, served reward and seed (PPO steps,
    pairs, ...) are never averaged together: the setting becomes a column."""
    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("overoptimization")
    cells = [_settings(r["cell"]) for r in records]
    extra = varying_settings(cells, shown=("task", "method", "served", "uwo_lambda"),
                             within=("task", "method"))  # fmt: skip
    rows = []
    for c, r in zip(cells, records, strict=True):
        res = r["result"]
        common = {"task": c["task"], "method": c["method"], **{k: c.get(k) for k in extra},
                  "seed": c["seed"], "rm_held_out_accuracy": res["rm_held_out_accuracy"],
                  "rm_held_out_clean_accuracy": res["rm_held_out_clean_accuracy"]}  # fmt: skip
        if c["method"] == "ppo":
            rows.append({**common, "served": served_label(c["served"], c.get("uwo_lambda")),
                         "peak_gold": res["peak_gold"], "final_gold": res["final_gold"],
                         "gold_drop": res["gold_drop"],
                         "final_proxy": res["final_proxy"]})  # fmt: skip
        else:
            for served, cur in res["curves"].items():
                gold = np.asarray(cur["gold"])
                rows.append({**common, "served": served_label(served, c.get("uwo_lambda")),
                             "peak_gold": float(gold.max()), "final_gold": float(gold[-1]),
                             "gold_drop": float(gold.max() - gold[-1]),
                             "final_proxy": cur["proxy"][-1]})  # fmt: skip
    order = {s: i for i, s in enumerate(SERVED)}
    rows.sort(key=lambda r: (r["task"], r["method"], order.get(r["served"], 9), r["served"],
                             *(setting_order(r[k]) for k in extra), r["seed"]))  # fmt: skip
    metrics = ["peak_gold", "final_gold", "gold_drop", "final_proxy", "rm_held_out_accuracy",
               "rm_held_out_clean_accuracy"]  # fmt: skip
    fields = ["task", "method", "served", *extra, "seed", *metrics]
    paths = {"csv": run_dir / "overoptimization.csv", "markdown": run_dir / "overoptimization.md",
             "plot": run_dir / "overoptimization.png"}  # fmt: skip
    atomic_write_bytes(paths["csv"], to_csv(rows, fields).encode())
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["task"], r["method"], r["served"], *(setting_key(r[k]) for k in extra))
        groups.setdefault(key, []).append(r)
    head, align = markdown_columns(extra)
    shown = ("task", "method", "served", "uwo_lambda", "seed", *extra)
    lines = [caption(*fixed_settings(_per_method(cells), skip=shown),
                     seeds_text(c["seed"] for c in cells),
                     "gold and proxy returns: means over seeds (PPO: of its training episodes; "
                     "best-of-n: of the proxy-best of n episodes, at the largest n)"),
             "",
             f"| task | method | served reward |{head} seeds | peak gold | final gold | drop | "
             "final proxy | RM held-out acc (noisy / clean) |",
             f"|---|---|---|{align}---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (task, method, served, *_), rs in groups.items():
        m = {k: np.mean([r[k] for r in rs]) for k in metrics}
        cols = "".join(f" {setting_text(rs[0][k])} |" for k in extra)
        lines.append(f"| {task} | {method} | {served} |{cols} {len(rs)} | {m['peak_gold']:.2f} | "
                     f"{m['final_gold']:.2f} | {m['gold_drop']:.2f} | {m['final_proxy']:.2f} | "
                     f"{m['rm_held_out_accuracy']:.2f} / "
                     f"{m['rm_held_out_clean_accuracy']:.2f} |")  # fmt: skip
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if records:
        save_png(_figure(cells, records, extra), paths["plot"])
    return paths


def _per_method(cells: list[dict]) -> list[dict]:
    """Cells without the setting the other method ignores (PPO: episodes; best-of-n: steps),
    so a caption names only settings that mean something."""
    ignored = {"ppo": "episodes", "bon": "steps"}
    return [{k: v for k, v in c.items() if k != ignored.get(c["method"])} for c in cells]


def overoptimization_figure(run_dir: str | Path):
    """The figure :func:`write_overoptimization_report` saves (None for an empty store)."""
    records = ResultsStore(run_dir).records("overoptimization")
    if not records:
        return None
    cells = [_settings(r["cell"]) for r in records]
    extra = varying_settings(cells, shown=("task", "method", "served", "uwo_lambda"),
                             within=("task", "method"))  # fmt: skip
    return _figure(cells, records, extra)


def _figure(cells: list[dict], records: list[dict], extra: list[str]):
    """Per (task, method): gold (top) and proxy (bottom) return against optimisation, a line
    per served reward (mean over seeds) with a band of ± the std over seeds (a single PPO
    seed: over the episodes behind each point)."""
    columns = sorted({(c["task"], c["method"]) for c in cells})
    panels = Panels(len(columns), 2, width=4.6, height=3.5)
    for col, (task, method) in enumerate(columns):
        curves: dict[str, list[np.ndarray]] = {}  # label -> [x, gold, proxy] per seed
        stds: dict[str, list] = {}  # label -> PPO: [gold, proxy] std over episodes per point
        for c, r in zip(cells, records, strict=True):
            if (c["task"], c["method"]) != (task, method):
                continue
            res, settings = r["result"], settings_label(c, extra)
            if method == "ppo":
                label = served_label(c["served"], c.get("uwo_lambda")) + settings
                curves.setdefault(label, []).append(np.asarray(res["curve"])[:, :3])
                stds.setdefault(label, []).append(res.get("curve_std"))
            else:
                for served, cur in res["curves"].items():
                    label = served_label(served, c.get("uwo_lambda")) + settings
                    curves.setdefault(label, []).append(
                        np.column_stack([res["kl"], cur["gold"], cur["proxy"]])
                    )
        order = {s: i for i, s in enumerate(SERVED)}
        for label in sorted(curves, key=lambda s: (order.get(s.split(" ")[0], len(SERVED)), s)):
            x, mean, err = curve_band(curves[label], stds.get(label))
            for row in (0, 1):
                panels.line(panels.grid[row][col], x, mean[:, row], label,
                            err=None if err is None else err[:, row], band=True)  # fmt: skip
        for row, what in ((0, "gold (true) return"), (1, "proxy return (served reward)")):
            ax = panels.grid[row][col]
            ax.set_title(f"{task.split('/')[-1]} {method}: {what}", fontsize=9)
            ax.set_xlabel("env steps" if method == "ppo" else "KL_bon = log n - (n-1)/n")
            ax.set_ylabel(what.split(" (")[0] + " per episode")
            if method == "ppo":
                ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ppo = [c for c in cells if c["method"] == "ppo"]
    bon = [c for c in cells if c["method"] == "bon"]
    return panels.finish(summary(
        "reward-model overoptimisation on " + ", ".join(dict.fromkeys(c["task"] for c in cells)),
        "PPO: " + count_text((c["steps"] for c in ppo), "env step") + " per run" if ppo else "",
        "best-of-n: pools of " + count_text((c["episodes"] for c in bon), "episode")
        if bon else "",
        seeds_text(c["seed"] for c in cells),
        "lines: mean over seeds; band: ± std over seeds (one PPO seed: over each point's "
        "episodes)",
    ))  # fmt: skip
