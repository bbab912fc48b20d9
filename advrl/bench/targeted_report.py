"""The targeted-attack report, rebuilt from the store: ``targeted.{csv,md,png}``.

Per group of cells that share every setting but the seed (cells with other settings are
never merged): each attack's targeted success rate with its Wilson 95% interval, successes
pooled over the seeds' episodes, and its mean x-velocity, target return and task return; a
figure of the success rates (with their intervals) and the mean x-velocities per attack.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advrl.bench.plotting import Panels, save_png
from advrl.bench.report import (
    caption,
    fixed_settings,
    seeds_text,
    setting_key,
    settings_label,
    summary,
    to_csv,
    varying_settings,
)
from advrl.bench.store import ResultsStore
from advrl.bench.targeted import ATTACK_ROWS, TARGETS, wilson
from advrl.zoo.checkpoint import atomic_write_bytes

NAMES = {
    "none": "no attack", "uniform": "uniform noise", "pgd": "PGD (untargeted)",
    "optimal": "optimal attack (untargeted, learned)",
    "intention_pgd": "targeted PGD to the intention's action", "rat": "RAT",
    "rat_unweighted": "RAT without the weighting function",
    "intention": "intention policy itself (reference)",
}  # fmt: skip
COLUMNS = ("seed", "attack", "episodes", "successes", "success_rate", "ci_low", "ci_high",
           "mean_x_velocity", "mean_target_return", "mean_return")  # fmt: skip


def groups(records: list[dict]) -> dict[str, tuple[dict, list[dict]]]:
    """Records by every setting but the seed: ``{key: (settings, records)}``."""
    out: dict[str, tuple[dict, list[dict]]] = {}
    for rec in records:
        settings = {k: v for k, v in rec["cell"].items() if k not in ("seed", "kind")}
        out.setdefault(setting_key(settings), (settings, []))[1].append(rec)
    return out


def pooled(recs: list[dict]) -> list[dict]:
    """One row per attack over the group's seeds: pooled successes, Wilson interval, means
    weighted by episodes."""
    out = []
    for attack in ATTACK_ROWS:
        rows = [r for rec in recs for r in rec["result"]["rows"] if r["attack"] == attack]
        if not rows:
            continue
        k, n = sum(r["successes"] for r in rows), sum(r["episodes"] for r in rows)
        low, high = wilson(k, n)
        means = {key: float(np.average([r[key] for r in rows],
                                       weights=[r["episodes"] for r in rows]))
                 for key in ("mean_x_velocity", "mean_target_return", "mean_return")}  # fmt: skip
        out.append({"attack": attack, "episodes": n, "successes": k, "success_rate": k / n,
                    "ci_low": low, "ci_high": high, **means})  # fmt: skip
    return out


def _table(settings: dict, recs: list[dict]) -> list[str]:
    target = TARGETS[settings["target"]]
    training = recs[0]["result"]
    head = caption(*fixed_settings([settings]), seeds_text(r["cell"]["seed"] for r in recs),
                   f"success: {target.description}")  # fmt: skip
    lines = [head, "", "| attack | success | rate [Wilson 95%] | mean x-velocity | target return "
             "| task return |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for row in pooled(recs):
        lines.append(
            f"| {NAMES[row['attack']]} | {row['successes']}/{row['episodes']} | "
            f"{row['success_rate']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}] | "
            f"{row['mean_x_velocity']:.2f} | {row['mean_target_return']:.0f} | "
            f"{row['mean_return']:.0f} |"
        )
    shown = ("rm_held_out_accuracy", "rat_steps_per_second", "plain_ppo_steps_per_second",
             "intention_seconds", "rat_seconds")  # fmt: skip
    extras = [f"{k}={training[k]:.3g}" for k in shown if k in training]
    return [*lines, "", "Training (first seed): " + ", ".join(extras)]  # fmt: skip


def write_targeted_report(run_dir: str | Path) -> dict[str, Path]:
    """``targeted.csv`` (one row per cell and attack), ``.md`` (pooled over seeds per
    setting group) and ``.png`` (success rates with intervals, mean x-velocities)."""
    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("targeted")
    paths = {"csv": run_dir / "targeted.csv", "markdown": run_dir / "targeted.md",
             "plot": run_dir / "targeted.png"}  # fmt: skip
    grouped = groups(records)
    table = [{**settings, "seed": rec["cell"]["seed"], **row}
             for settings, recs in grouped.values() for rec in recs
             for row in rec["result"]["rows"]]  # fmt: skip
    fields = list(dict.fromkeys([*COLUMNS, *(k for r in table for k in r)]))
    atomic_write_bytes(paths["csv"], to_csv(table, fields).encode())
    lines: list[str] = []
    for settings, recs in grouped.values():
        lines += [*_table(settings, recs), ""]
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) or "No cells yet.\n").encode())
    if records:
        save_png(targeted_figure(grouped), paths["plot"])
    return paths


def targeted_figure(grouped: dict[str, tuple[dict, list[dict]]]):
    """Success rate (Wilson interval) and mean x-velocity per attack, a label per group."""
    panels = Panels(2, width=5.5, height=3.8)
    varying = varying_settings([settings for settings, _ in grouped.values()], averaged=())
    shown = [
        a
        for a in ATTACK_ROWS
        if any(r["attack"] == a for _, recs in grouped.values() for r in pooled(recs))
    ]
    for settings, recs in grouped.values():
        label = f"{settings['victim']} {settings['target']} eps={settings['eps']:g}"
        label += settings_label(settings, varying)
        rows = pooled(recs)
        x = np.array([shown.index(r["attack"]) for r in rows])
        rate = np.array([r["success_rate"] for r in rows])
        err = np.array([rate - [r["ci_low"] for r in rows], [r["ci_high"] for r in rows] - rate])
        panels.line(0, x, rate, label, err=err, join=False)
        panels.line(1, x, [r["mean_x_velocity"] for r in rows], label, join=False)
    for ax in panels.axes:
        ax.set_xticks(np.arange(len(shown)), shown, rotation=30, ha="right", fontsize=8)
    panels.axes[0].set(ylabel="targeted success rate", ylim=(-0.05, 1.05))
    panels.axes[1].set(ylabel="mean x-velocity (m/s)")
    panels.axes[1].axhline(0.0, color="grey", linewidth=0.8)
    seeds = [r["cell"]["seed"] for _, recs in grouped.values() for r in recs]
    return panels.finish(summary("targeted behaviour attacks", seeds_text(seeds),
                                 "Wilson 95% intervals"))  # fmt: skip
