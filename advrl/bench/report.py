"""Reports rebuilt from the results store: CSV, Markdown table and a PNG plot."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

from advrl.bench.plotting import panels, save_png
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

COLUMNS = (
    "policy", "env", "attack", "norm", "eps", "seed", "episodes",
    "mean_return", "std_return", "clean_return", "return_ratio", "mean_attack_norm",
    "max_attack_norm", "steps", "seconds",
)  # fmt: skip


def rows(run_dir: str | Path) -> list[dict]:
    """One flat row per stored cell, with the matching clean return and the ratio to it."""
    records = ResultsStore(run_dir).records("attack")
    clean = {}
    for rec in records:
        c = rec["cell"]
        if c["attack"] == "none" or c["eps"] == 0:
            clean[(c["policy"], c["seed"], c["episodes"])] = rec["result"]["mean_return"]
    out = []
    for rec in records:
        c, r = rec["cell"], rec["result"]
        base = clean.get((c["policy"], c["seed"], c["episodes"]))
        row = {**{k: c[k] for k in ("policy", "env", "attack", "norm", "eps", "seed", "episodes")},
               **{k: r[k] for k in ("mean_return", "std_return", "mean_attack_norm",
                                     "max_attack_norm", "steps", "seconds")}}  # fmt: skip
        row["clean_return"] = base
        row["return_ratio"] = r["mean_return"] / base if base else None
        out.append(row)
    order = {"none": 0}
    out.sort(
        key=lambda r: (r["policy"], r["seed"], order.get(r["attack"], 1), r["attack"], r["eps"])
    )
    return out


def to_csv(table: list[dict], columns: tuple[str, ...] | list[str] = COLUMNS) -> str:
    """Rows as CSV text with a header (every report's CSV goes through here)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()


def to_markdown(table: list[dict]) -> str:
    """Per policy: clean return, then each attack's return, its % of clean, and its size."""
    lines = [
        "| policy | attack | eps | return (mean ± std) | % of clean | mean attack norm |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in table:
        ratio = "" if r["return_ratio"] is None else f"{100 * r['return_ratio']:.0f}%"
        lines.append(
            f"| {r['policy']} | {r['attack']} | {r['eps']:g} | "
            f"{r['mean_return']:.1f} ± {r['std_return']:.1f} | {ratio} | "
            f"{r['mean_attack_norm']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def plot(table: list[dict], path: Path) -> None:
    """Return vs eps, one line per attack, one panel per policy (clean return at eps = 0)."""
    policies = sorted({r["policy"] for r in table})
    fig, axes = panels(len(policies))
    for ax, policy in zip(axes, policies, strict=True):
        mine = [r for r in table if r["policy"] == policy]
        clean = [r["mean_return"] for r in mine if r["attack"] == "none"]
        curves: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in mine:
            if r["attack"] != "none":
                curves[r["attack"]].append((r["eps"], r["mean_return"]))
        for attack, points in sorted(curves.items()):
            points = sorted(([(0.0, clean[0])] if clean else []) + points)
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=attack)
        if clean:
            ax.axhline(clean[0], color="grey", linestyle="--", linewidth=1, label="clean")
        ax.set_title(policy)
        ax.set_xlabel("eps (l_inf, normalised obs)")
        ax.set_ylabel("mean episode return")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def write_reports(run_dir: str | Path) -> dict[str, Path]:
    """Rebuild ``results.csv``, ``results.md`` and ``returns_vs_eps.png`` from the store."""
    run_dir = Path(run_dir)
    table = rows(run_dir)
    paths = {
        "csv": run_dir / "results.csv",
        "markdown": run_dir / "results.md",
        "plot": run_dir / "returns_vs_eps.png",
    }
    atomic_write_bytes(paths["csv"], to_csv(table).encode())
    atomic_write_bytes(paths["markdown"], to_markdown(table).encode())
    if table:
        plot(table, paths["plot"])
    return paths
