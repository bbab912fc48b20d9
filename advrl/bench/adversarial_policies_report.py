"""The adversarial-policies report, rebuilt from the store:
``adversarial_policies.{csv,md,png}``.

Per (game, victim, defense, budget) and every other setting that differs (never merged):
the adversary's and the normal opponent's win rates against the victim, and against the
reference player (the game's own measure), pooled over seeds with a Wilson 95% interval on
the pooled games (per-seed rates beside it); the plot shows the attacked win rate against
the budget with the normal opponent's as a reference line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scipy.stats import binomtest

from advrl.bench.plotting import Panels, save_png
from advrl.bench.report import (
    caption,
    fixed_settings,
    markdown_columns,
    seeds_text,
    setting_key,
    setting_text,
    summary,
    to_csv,
    varying_settings,
)
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

MATCHES = ("attacked", "normal", "adversary_vs_reference", "normal_vs_reference")
SHOWN = ("game", "victim", "defense", "budget")


def pooled(results: list[dict]) -> dict[str, Any]:
    """Wins over all games of the seeds, with the Wilson interval of the pooled rate."""
    wins = sum(r["wins"] for r in results)
    n = sum(r["episodes"] for r in results)
    ci = binomtest(wins, n).proportion_ci(0.95, method="wilson")
    return {"wins": wins, "episodes": n, "rate": wins / n, "low": ci.low, "high": ci.high,
            "per_seed": [r["win_rate"] for r in results]}  # fmt: skip


def _rate(p: dict) -> str:
    seeds = "/".join(f"{v:.2f}" for v in p["per_seed"])
    return f"{p['rate']:.2f} [{p['low']:.2f}, {p['high']:.2f}] ({seeds})"


def _groups(records: list[dict]) -> tuple[dict[tuple, list[dict]], list[str]]:
    cells = [r["cell"] for r in records]
    extra = varying_settings(cells, shown=SHOWN)
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        c = rec["cell"]
        key = (*(setting_key(c.get(k)) for k in SHOWN), *(setting_key(c.get(k)) for k in extra))
        groups.setdefault(key, []).append(rec)
    return groups, extra


def write_adversarial_policies_report(run_dir: str | Path) -> dict[str, Path]:
    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("adversarial_policy")
    paths = {"csv": run_dir / "adversarial_policies.csv",
             "markdown": run_dir / "adversarial_policies.md",
             "plot": run_dir / "adversarial_policies.png"}  # fmt: skip
    groups, extra = _groups(records)
    rows = []
    for rec in records:
        c, res = rec["cell"], rec["result"]
        row = {k: c.get(k) for k in (*SHOWN, *extra, "seed")}
        for m in MATCHES:
            row[f"{m}_win_rate"] = res[m]["win_rate"]
            row[f"{m}_draws"] = res[m]["draws"] / res[m]["episodes"]
        row["adversary_steps_per_second"] = res["adversary_steps_per_second"]
        rows.append(row)
    atomic_write_bytes(paths["csv"], to_csv(rows, list(rows[0]) if rows else list(SHOWN)).encode())
    head, align = markdown_columns(extra)
    cells = [r["cell"] for r in records]
    lines = [caption(*fixed_settings(cells, skip=(*SHOWN, "seed", *extra)),
                     seeds_text(c["seed"] for c in cells),
                     "win rates of the victim's opponent over all games of all seeds, Wilson 95% "
                     "interval, per-seed rates in brackets"),
             "", f"| game | victim | defense | budget |{head} adversary vs victim | normal vs "
             "victim | adversary vs reference | normal vs reference |",
             f"|---|---|---|---:|{align}---:|---:|---:|---:|"]  # fmt: skip
    for (*_,), recs in sorted(groups.items()):
        c = recs[0]["cell"]
        p = {m: pooled([r["result"][m] for r in recs]) for m in MATCHES}
        cols = "".join(f" {setting_text(c.get(k))} |" for k in extra)
        lines.append(f"| {c['game']} | {c['victim']} | {c['defense']} | {c['budget']:g} |{cols} "
                     + " | ".join(_rate(p[m]) for m in MATCHES) + " |")  # fmt: skip
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if records:
        save_png(_figure(groups), paths["plot"])
    return paths


def _figure(groups: dict[tuple, list[dict]]):
    """Per game: the adversary's win rate against the victim vs the budget (one line per
    defense), the normal opponent's as a dashed level."""
    games = sorted({recs[0]["cell"]["game"] for recs in groups.values()})
    panels = Panels(len(games))
    for ax, game in zip(panels.axes, games, strict=True):
        lines: dict[str, list[tuple[float, dict]]] = {}
        normal = []
        for recs in groups.values():
            c = recs[0]["cell"]
            if c["game"] != game:
                continue
            lines.setdefault(c["defense"], []).append(
                (c["budget"], pooled([r["result"]["attacked"] for r in recs]))
            )
            if c["defense"] == "none":
                normal += [r["result"]["normal"] for r in recs]
        for defense, points in sorted(lines.items()):
            points.sort(key=lambda t: t[0])
            x = [b for b, _ in points]
            y = [p["rate"] for _, p in points]
            err = [[p["rate"] - p["low"] for _, p in points],
                   [p["high"] - p["rate"] for _, p in points]]  # fmt: skip
            panels.line(ax, x, y, f"adversary vs {'defended' if defense != 'none' else ''} "
                        "victim".replace("  ", " "), err=err)  # fmt: skip
        if normal:
            panels.reference(ax, pooled(normal)["rate"], "normal opponent vs victim")
        ax.set(
            title=game,
            xlabel="budget (share of steps the attacker controls)",
            ylabel="win rate of the victim's opponent",
            ylim=(-0.02, 1.02),
        )
    cells = [r["cell"] for recs in groups.values() for r in recs]
    return panels.finish(summary("adversarial policies", seeds_text(c["seed"] for c in cells),
                                 "Wilson 95% intervals over the pooled games"))  # fmt: skip
