"""The reward-robustness report, rebuilt from the store: ``reward_robustness.{csv,md,png}``.

Two Markdown tables (means over seeds): per reward model, its held-out accuracy, Lipschitz
estimates and training-throughput ratio to the unregularised model of the same cell; per
model and eps, the untargeted attack's reward error and step-level rank correlation and the
selection attack's best-of-n gold return and episode-level rank correlation. Cells that
differ in a setting beyond task and seed (the GP target, pairs, ...) are never averaged
together: the setting becomes a column. The ``none`` and ``sn`` models of cells that differ
only in the GP's settings are the same models and count once. The CSV has a row per (model,
seed, eps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from advrl.bench.plotting import Panels, save_png
from advrl.bench.report import (
    caption,
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
from advrl.bench.reward_robustness import REGULARIZERS, RewardRobustnessCell
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

KIND = RewardRobustnessCell.kind
MODEL_METRICS = (
    "held_out_accuracy", "held_out_clean_accuracy", "final_lipschitz", "lipschitz_normalized",
    "pool_lipschitz", "throughput", "throughput_ratio",
)  # fmt: skip
EPS_METRICS = ("reward_error", "spearman_step", "bon_gold_mid", "bon_gold", "spearman_episode")


def _name(regularizer: str, cell: dict[str, Any]) -> str:
    """``"gp (k=0.05, data)"`` for the GP model, else the regulariser's name."""
    if regularizer != "gp":
        return regularizer
    sided = "" if cell.get("gp_one_sided", True) else ", two-sided"
    return f"gp (k={setting_text(cell['gp_target'])}, {cell['gp_site']}{sided})"


def _varying(cells: list[dict]) -> list[str]:
    # the GP settings are named in the model's label; eps lists are the table's rows
    shown = ("task", "regularizers", "eps", "gp_target", "gp_site", "gp_one_sided")
    return varying_settings(cells, shown=shown, within=("task",))


def table_rows(run_dir: str | Path) -> tuple[list[dict], list[dict], list[str]]:
    """Per-model rows, per-(model, eps) rows, and the varying settings, from the store."""
    records = ResultsStore(run_dir).records(KIND)
    cells = [r["cell"] for r in records]
    extra = _varying(cells)
    models, per_eps, seen = [], [], set()
    for c, r in zip(cells, records, strict=True):
        res = r["result"]
        common = {"task": c["task"], **{k: c.get(k) for k in extra}, "seed": c["seed"]}
        for reg, m in res["models"].items():
            name = _name(reg, c)
            # cells that differ only in the GP's settings train the same none / sn models
            # (same data and seeds): count each once
            same = setting_key({**common, "model": name, "eps": res["eps"]})
            if same in seen:
                continue
            seen.add(same)
            models.append({**common, "model": name, "regularizer": reg,
                           **{k: m[k] for k in MODEL_METRICS if k in m},
                           "final_lipschitz": m["lipschitz"][-1]})  # fmt: skip
            for i, eps in enumerate(res["eps"]):
                per_eps.append({**common, "model": name, "regularizer": reg, "eps": eps,
                                "reward_error": m["reward_error"][i],
                                "spearman_step": m["spearman_step"][i],
                                "bon_gold": m["bon_gold"][i][-1], "bon_n": res["n"][-1],
                                "bon_gold_mid": m["bon_gold"][i][len(res["n"]) // 2],
                                "bon_n_mid": res["n"][len(res["n"]) // 2],
                                "spearman_episode": m["spearman_episode"][i],
                                "pool_mean_gold": res["pool_mean_gold"]})  # fmt: skip
    order = {s: i for i, s in enumerate(REGULARIZERS)}

    def sort_key(row: dict) -> tuple:
        settings = (setting_order(row[k]) for k in extra)
        rank = order.get(row["regularizer"], 9)
        return (row["task"], *settings, rank, row["model"], row.get("eps", 0), row["seed"])

    models.sort(key=sort_key)
    per_eps.sort(key=sort_key)
    return models, per_eps, extra


def _groups(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(setting_key(r[k]) for k in keys), []).append(r)
    return groups


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def write_reward_robustness_report(run_dir: str | Path) -> dict[str, Path]:
    """``reward_robustness.csv``/``.md`` (module docstring) and ``reward_robustness.png``
    (reward error, rank correlation and best-of-n gold against eps, a line per model)."""
    run_dir = Path(run_dir)
    models, per_eps, extra = table_rows(run_dir)
    cells = [r["cell"] for r in ResultsStore(run_dir).records(KIND)]
    paths = {"csv": run_dir / "reward_robustness.csv",
             "markdown": run_dir / "reward_robustness.md",
             "plot": run_dir / "reward_robustness.png"}  # fmt: skip
    fields = ["task", *extra, "model", "regularizer", "seed", "eps", *EPS_METRICS, "bon_n_mid",
              "bon_n", "pool_mean_gold"]  # fmt: skip
    by_model = {(r["task"], *(setting_key(r[k]) for k in extra), r["model"], r["seed"]): r
                for r in models}  # fmt: skip
    csv_rows = [{**r, **{k: by_model[(r["task"], *(setting_key(r[k2]) for k2 in extra),
                                      r["model"], r["seed"])][k] for k in MODEL_METRICS}}
                for r in per_eps]  # fmt: skip
    atomic_write_bytes(paths["csv"], to_csv(csv_rows, [*fields, *MODEL_METRICS]).encode())
    head, align = markdown_columns(extra)
    n_max = sorted({r["bon_n"] for r in per_eps})
    n_mid = sorted({r["bon_n_mid"] for r in per_eps})
    lines = [
        caption(
            *fixed_settings(cells, skip=("task", "seed", "gp_target", "gp_site", *extra)),
            seeds_text(c["seed"] for c in cells),
            "means over seeds; eps: l_inf radius in the raw observation space",
        ),
        "",
        f"| task |{head} model | seeds | RM held-out acc (noisy / clean) | Lipschitz (raw, "
        "last epoch) | Lipschitz (normalised, train / pool) | training throughput (pairs/s) "
        "| throughput ratio vs none |",
        f"|---|{align}---|---:|---:|---:|---:|---:|---:|",
    ]
    keys = ("task", *extra, "model")
    for rs in _groups(models, keys).values():
        cols = "".join(f" {setting_text(rs[0][k])} |" for k in extra)
        lines.append(
            f"| {rs[0]['task']} |{cols} {rs[0]['model']} | {len(rs)} | "
            f"{_mean(rs, 'held_out_accuracy'):.3f} / {_mean(rs, 'held_out_clean_accuracy'):.3f} "
            f"| {_mean(rs, 'final_lipschitz'):.3f} | {_mean(rs, 'lipschitz_normalized'):.2f} / "
            f"{_mean(rs, 'pool_lipschitz'):.2f} | {_mean(rs, 'throughput'):.0f} | "
            f"{_mean(rs, 'throughput_ratio'):.2f} |"
        )
    lines += [
        "",
        "Untargeted attack (PGD on |r(x+d) - r(x)|): reward error = mean |r_attacked - "
        "r_clean| / std(r_clean); step rank corr. = Spearman of attacked rewards with the true "
        "per-step reward. Selection attack (oracle: raise below-median episodes, lower the "
        f"rest): gold return of best-of-n at n = {setting_text(n_mid)} and "
        f"{setting_text(n_max)} (the whole pool), and the episode-level Spearman of attacked "
        "proxy returns with gold returns. A random pick (n = 1) has gold "
        f"{np.mean([r['pool_mean_gold'] for r in per_eps]) if per_eps else float('nan'):.1f} "
        "(the pool's mean).",
        "",
        f"| task |{head} model | eps | seeds | reward error | step rank corr. | best-of-n gold "
        "(mid n / all) | episode rank corr. |",
        f"|---|{align}---|---:|---:|---:|---:|---:|---:|",
    ]
    for rs in _groups(per_eps, (*keys, "eps")).values():
        cols = "".join(f" {setting_text(rs[0][k])} |" for k in extra)
        lines.append(
            f"| {rs[0]['task']} |{cols} {rs[0]['model']} | {setting_text(rs[0]['eps'])} | "
            f"{len(rs)} | {_mean(rs, 'reward_error'):.3f} | {_mean(rs, 'spearman_step'):.3f} | "
            f"{_mean(rs, 'bon_gold_mid'):.1f} / {_mean(rs, 'bon_gold'):.1f} | "
            f"{_mean(rs, 'spearman_episode'):.3f} |"
        )
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if per_eps:
        save_png(_figure(per_eps, cells, extra), paths["plot"])
    return paths


def reward_robustness_figure(run_dir: str | Path):
    """The figure :func:`write_reward_robustness_report` saves (None for an empty store)."""
    _, per_eps, extra = table_rows(run_dir)
    if not per_eps:
        return None
    return _figure(per_eps, [r["cell"] for r in ResultsStore(run_dir).records(KIND)], extra)


def _figure(per_eps: list[dict], cells: list[dict], extra: list[str]):
    """Per task: reward error, step rank correlation (untargeted attack) and best-of-n gold
    (selection attack) against eps; a line per model, mean ± std over seeds."""
    tasks = sorted({r["task"] for r in per_eps})
    panels = Panels(3, len(tasks), width=4.4, height=3.4)
    what = (("reward_error", "reward error / clean reward std"),
            ("spearman_step", "rank corr. with true step reward"),
            ("bon_gold_mid", "best-of-n gold return (mid n)"))  # fmt: skip
    for row, task in enumerate(tasks):
        rows = [r for r in per_eps if r["task"] == task]
        for rs in _groups(rows, ("model", *extra)).values():
            label = rs[0]["model"] + settings_label(rs[0], extra)
            by_eps = _groups(rs, ("eps",))
            eps = [g[0]["eps"] for g in by_eps.values()]
            for col, (key, _) in enumerate(what):
                values = [[r[key] for r in g] for g in by_eps.values()]
                panels.line(panels.grid[row][col], eps, [np.mean(v) for v in values], label,
                            err=[np.std(v) for v in values])  # fmt: skip
        for col, (_, title) in enumerate(what):
            ax = panels.grid[row][col]
            ax.set_xscale("symlog", linthresh=0.01)
            ax.set(xlabel="eps (l_inf, raw observations)", ylabel=title)
            ax.set_title(f"{task}: {title}", fontsize=9)
    return panels.finish(summary(
        "reward models under observation attacks", seeds_text(c["seed"] for c in cells),
        "untargeted PGD (reward error, rank corr.); selection attack (best-of-n gold)",
        "mean ± std over seeds",
    ))  # fmt: skip
