"""The reward-distances report, rebuilt from the store: ``reward_distances.{csv,md,png}``.

Spearman rank correlations of each distance and each accuracy with each regret, over every
model in the store, with 95% intervals from a bootstrap that resamples whole ensembles
(members share their data), and the paired difference to the accuracies' correlations; the
medians per number of pairs; a scatter of regret against EPIC, STARC and fresh-pair error.

Pairs, noise and seeds are pooled on purpose (they are what varies the models' quality); the
cells' other settings (``n_mean_samples``) are never pooled: each value gets its own tables.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from advrl.bench.plotting import Panels, save_png
from advrl.bench.report import caption, seeds_text, setting_key, summary, to_csv
from advrl.bench.reward_distances import PREDICTORS, REGRETS
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

POOLED = ("seed", "pairs", "noise")
NAMES = {
    "epic": "EPIC", "starc": "STARC (weights uniform over (s, a))",
    "starc_coverage": "STARC (coverage weights)", "epic_sampled": "EPIC, sampled",
    "error_held_out": "held-out error (benchmark's split)",
    "error_fresh": "error on 2,000 fresh pairs", "error_fresh_clean": "same, clean labels",
}  # fmt: skip
BASELINES = ("error_held_out", "error_fresh")


def _spearman(x: list[float], y: list[float]) -> float:
    """Spearman rho; NaN when either side is constant (a rank correlation is undefined)."""
    if len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    return float(spearmanr(x, y)[0])


def spearman_with_ci(rows: list[dict], regret: str, n_boot: int, seed: int = 0) -> dict:
    """Spearman rho of each predictor with ``regret``; 95% intervals of it and of its
    difference to each accuracy's rho by a bootstrap over ensembles (NaN: constant regret)."""
    if regret not in REGRETS:
        raise ValueError(f"unknown regret {regret!r}; allowed: {list(REGRETS)}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    group = lambda r: (r["seed"], r["pairs"], r["noise"])  # noqa: E731
    clusters = sorted({group(r) for r in rows})
    by = {c: [r for r in rows if group(r) == c] for c in clusters}

    def rhos(sample: list[dict]) -> dict[str, float]:
        y = [round(r[regret], 9) for r in sample]  # float noise must not break ties
        if len(set(y)) < 2:
            return dict.fromkeys(PREDICTORS, math.nan)
        return {p: _spearman([r[p] for r in sample], y) for p in PREDICTORS}

    point = rhos(rows)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        picked = rng.integers(0, len(clusters), len(clusters))
        boots.append(rhos([r for i in picked for r in by[clusters[i]]]))
    out = {}
    for p in PREDICTORS:
        values = np.array([b[p] for b in boots])
        ci = np.nanpercentile(values, [2.5, 97.5]) if np.isfinite(values).any() else [math.nan] * 2
        out[p] = {"rho": point[p], "ci": [float(v) for v in ci]}
        for base in BASELINES:  # paired: the same resampled ensembles
            diff = values - np.array([b[base] for b in boots])
            finite = np.isfinite(diff).any()
            low_high = np.nanpercentile(diff, [2.5, 97.5]) if finite else [math.nan] * 2
            out[p][f"minus_{base}_ci"] = [float(v) for v in low_high]
    return out


def _groups(records: list[dict]) -> dict[str, tuple[dict, list[dict]]]:
    """Records by their settings beyond the pooled ones: ``{key: (settings, rows)}``."""
    out: dict[str, tuple[dict, list[dict]]] = {}
    for rec in records:
        settings = {k: v for k, v in rec["cell"].items() if k not in (*POOLED, "kind")}
        key = setting_key(settings)
        out.setdefault(key, (settings, []))[1].extend(rec["result"]["rows"])
    return out


def _regret(values: list[float]) -> str:
    """A mean regret; float noise around an exact 0 (optimal policies) prints as 0."""
    mean = float(np.mean(values))
    return "0" if abs(mean) < 1e-9 else f"{mean:.3g}"


def _interval(ci: list[float]) -> str:
    return "-" if any(math.isnan(v) for v in ci) else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _rho(stat: dict) -> str:
    return "-" if math.isnan(stat["rho"]) else f"{stat['rho']:.2f} {_interval(stat['ci'])}"


def _tables(settings: dict, rows: list[dict], n_boot: int) -> list[str]:
    stats = {k: spearman_with_ci(rows, k, n_boot) for k in REGRETS}
    n_ensembles = len({(r["seed"], r["pairs"], r["noise"]) for r in rows})
    head = caption(*(f"{k}={v}" for k, v in settings.items()),
                   f"{len(rows)} models in {n_ensembles} ensembles",
                   seeds_text(r["seed"] for r in rows),
                   "noise " + ", ".join(f"{n:g}" for n in sorted({r["noise"] for r in rows})),
                   f"{n_boot} bootstrap resamples of whole ensembles")  # fmt: skip
    lines = [head, "", "Medians per number of pairs (regret: mean, and models with regret > 0 "
             "from the start):", "",
             "| pairs | EPIC | STARC | sampled EPIC | held-out error | fresh error (noisy / "
             "clean) | regret, start | regret, uniform start |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for pairs in sorted({r["pairs"] for r in rows}):
        rs = [r for r in rows if r["pairs"] == pairs]
        med = {k: float(np.median([r[k] for r in rs])) for k in PREDICTORS}
        hit = sum(r["regret"] > 1e-9 for r in rs)
        lines.append(
            f"| {pairs} | {med['epic']:.2f} | {med['starc']:.2f} | {med['epic_sampled']:.2f} | "
            f"{med['error_held_out']:.2f} | {med['error_fresh']:.2f} / "
            f"{med['error_fresh_clean']:.2f} | {_regret([r['regret'] for r in rs])} "
            f"({hit}/{len(rs)}) | {_regret([r['regret_all_starts'] for r in rs])} |"
        )
    lines += ["", "Spearman rho with regret [95% interval]; the last columns: the paired "
              "difference to the held-out and fresh errors' rho (uniform start):", "",
              "| predictor | regret from the start | regret, uniform start | 100-step regret | "
              "minus held-out error's | minus fresh error's |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for p in PREDICTORS:
        uniform = stats["regret_all_starts"][p]
        diffs = ["-" if p == base else _interval(uniform[f"minus_{base}_ci"]) for base in BASELINES]
        lines.append(f"| {NAMES[p]} | {_rho(stats['regret'][p])} | {_rho(uniform)} | "
                     f"{_rho(stats['regret_episode'][p])} | {diffs[0]} | {diffs[1]} |")  # fmt: skip
    return lines


def write_reward_distances_report(run_dir: str | Path, n_boot: int = 2000) -> dict[str, Path]:
    """``reward_distances.csv`` (one row per model), ``.md`` (medians per pairs, Spearman
    rho with bootstrap intervals) and ``.png`` (regret against the predictors)."""
    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("reward_distances")
    paths = {"csv": run_dir / "reward_distances.csv", "markdown": run_dir / "reward_distances.md",
             "plot": run_dir / "reward_distances.png"}  # fmt: skip
    groups = _groups(records)
    table = [{**settings, **{k: v for k, v in r.items() if k != "epic_sampled_ci"}}
             for settings, rows in groups.values() for r in rows]  # fmt: skip
    fields = list(dict.fromkeys(k for r in table for k in r))
    atomic_write_bytes(paths["csv"], to_csv(table, fields).encode())
    lines: list[str] = []
    for settings, rows in groups.values():
        lines += [*_tables(settings, rows, n_boot), ""]
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) or "No cells yet.\n").encode())
    if table:
        save_png(reward_distances_figure(groups), paths["plot"])
    return paths


def reward_distances_figure(groups: dict[str, tuple[dict, list[dict]]]):
    """Regret from a uniform start against EPIC, STARC and fresh-pair error, one point per
    model, a colour per number of pairs (and per setting group, if several)."""
    shown = ("epic", "starc", "error_fresh")
    panels = Panels(len(shown), width=4.2, height=3.6)
    for settings, rows in groups.values():
        suffix = "" if len(groups) == 1 else " (" + ", ".join(
            f"{k}={v}" for k, v in settings.items() if k != "task") + ")"  # fmt: skip
        for pairs in sorted({r["pairs"] for r in rows}):
            rs = [r for r in rows if r["pairs"] == pairs]
            for ax, p in zip(panels.axes, shown, strict=True):
                panels.line(ax, [r[p] for r in rs], [r["regret_all_starts"] for r in rs],
                            f"{pairs} pairs{suffix}", join=False)  # fmt: skip
    for ax, p in zip(panels.axes, shown, strict=True):
        ax.set(xlabel=NAMES[p], ylabel="regret, uniform start")
    rows = [r for _, rs in groups.values() for r in rs]
    return panels.finish(summary("reward distances vs regret on Tomato-v0",
                                 f"{len(rows)} models", seeds_text(r["seed"] for r in rows),
                                 "one point per model"))  # fmt: skip
