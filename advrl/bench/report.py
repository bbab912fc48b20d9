"""Reports rebuilt from the results store: CSV, Markdown table and a PNG plot.

A run directory may hold cells of several runs with different settings (``--episodes 1``,
then ``--episodes 4``). A report never merges those: every setting that differs between
cells it would otherwise put in one row, line or mean (:func:`varying_settings`) becomes a
column and a grouping key, and a label in the plots. The settings every cell shares
(episodes, seeds, norm, ...) are named in a caption line above each Markdown table
(:func:`caption`) and in each figure's title, so a table or plot read alone still says what
was run.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advrl.bench.plotting import Panels, pooled_std, save_png
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

COLUMNS = (
    "policy", "env", "attack", "norm", "eps", "seed", "episodes",
    "mean_return", "std_return", "clean_return", "return_ratio", "mean_attack_norm",
    "max_attack_norm", "steps", "seconds",
)  # fmt: skip
CELL_COLUMNS = ("policy", "env", "attack", "norm", "eps", "seed", "episodes")
SETTINGS = ("env", "norm", "episodes")
"""Attack-cell settings that the Markdown table and the plot show only when they differ."""


def setting_key(value: Any) -> str:
    """A setting as an exact, hashable grouping key (lists, i.e. tuples in a config, too)."""
    return json.dumps(value, sort_keys=True)


def varying_settings(
    configs: Iterable[dict[str, Any]],
    shown: Iterable[str] = (),
    within: Sequence[str] = (),
    averaged: Iterable[str] = ("seed",),
) -> list[str]:
    """Config fields (other than ``kind``, ``shown`` and ``averaged``) that take more than
    one value among the configs that agree on ``within``, in the order they first appear.

    A missing field counts as None. ``averaged`` are the fields a report means over (seeds).

    Example:
        >>> a = {"task": "t", "steps": 4096, "seed": 0}
        >>> varying_settings([a, {**a, "seed": 1}, {**a, "steps": 8192}])
        ['steps']
        >>> varying_settings([a, {**a, "task": "u", "steps": 8192}], within=["task"])
        []
    """
    skip = {"kind", *shown, *averaged}
    scopes: dict[tuple, list[dict]] = defaultdict(list)
    for config in configs:
        scopes[tuple(setting_key(config.get(k)) for k in within)].append(config)
    names = [k for members in scopes.values() for c in members for k in c if k not in skip]
    return [
        name
        for name in dict.fromkeys(names)
        if any(len({setting_key(c.get(name)) for c in members}) > 1 for members in scopes.values())
    ]


def setting_text(value: Any) -> str:
    """A setting as a table cell: ``0.1``, ``-`` for None, ``a,b`` for a list."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(setting_text(v) for v in value)
    return str(value)


def setting_order(value: Any) -> tuple:
    """A sort key for settings of mixed types: numbers by value, then the rest as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, setting_text(value))


def settings_label(config: dict[str, Any], names: Sequence[str]) -> str:
    """``" (steps=4096, n_envs=4)"`` for a plot legend, or ``""`` when nothing varies."""
    if not names:
        return ""
    return " (" + ", ".join(f"{n}={setting_text(config.get(n))}" for n in names) + ")"


def count_text(values: Iterable[Any], noun: str) -> str:
    """``"50 episodes"``, or ``"10 or 50 episodes"`` when cells differ (a column says which).

    Example:
        >>> count_text([50, 10, 50], "episode"), count_text([1], "seed")
        ('10 or 50 episodes', '1 seed')
    """
    distinct = sorted({setting_key(v): v for v in values if v is not None}.values(),
                      key=setting_order)  # fmt: skip
    if not distinct:
        return ""
    texts = [setting_text(v) for v in distinct]
    number = texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]
    return f"{number} {noun}{'' if distinct == [1] else 's'}"


def seeds_text(seeds: Iterable[Any]) -> str:
    """``"1 seed (0)"``, ``"3 seeds (0, 1, 2)"``, ``"10 seeds (0-9)"``.

    Example:
        >>> seeds_text([1, 0, 1]), seeds_text(range(10))
        ('2 seeds (0, 1)', '10 seeds (0-9)')
    """
    distinct = sorted(set(seeds), key=setting_order)
    if not distinct:
        return "no seeds"
    listed = ", ".join(setting_text(s) for s in distinct)
    if len(distinct) > 6:
        ints = all(isinstance(s, int) for s in distinct)
        if ints and distinct == list(range(distinct[0], distinct[-1] + 1)):
            listed = f"{distinct[0]}-{distinct[-1]}"
        else:
            listed = f"{setting_text(distinct[0])}, {setting_text(distinct[1])}, ..., " + (
                setting_text(distinct[-1]))  # fmt: skip
    return f"{len(distinct)} seed{'' if len(distinct) == 1 else 's'} ({listed})"


def fixed_settings(configs: Iterable[dict[str, Any]], skip: Iterable[str] = ()) -> list[str]:
    """``"name=value"`` for every config field (beyond ``kind`` and ``skip``) that all
    configs share, in the order the fields first appear; fields that are None are left out.

    Example:
        >>> fixed_settings([{"steps": 4096, "seed": 0}, {"steps": 4096, "seed": 1}])
        ['steps=4096']
    """
    configs = list(configs)
    names = dict.fromkeys(k for c in configs for k in c if k not in {"kind", *skip})
    out = []
    for name in names:
        values = {setting_key(c.get(name)) for c in configs}
        value = configs[0].get(name)
        if len(values) == 1 and value is not None:
            out.append(f"{name}={setting_text(value)}")
    return out


def norm_text(norms: Iterable[str]) -> str:
    """``"l_inf"`` or ``"l_inf / l_2"`` (Markdown and titles write norms one way)."""
    return " / ".join(n.replace("inf", "_inf").replace("l2", "l_2") for n in sorted(set(norms)))


def summary(*parts: str) -> str:
    """The non-empty parts, joined: a figure's title.

    Example:
        >>> summary("CartPole-v1", "", "2 seeds (0, 1)")
        'CartPole-v1 · 2 seeds (0, 1)'
    """
    return " · ".join(p for p in parts if p)


def caption(*parts: str) -> str:
    """The line above a Markdown table: ``"Settings: "`` and the :func:`summary` of parts."""
    return "Settings: " + summary(*parts)


def markdown_columns(names: Sequence[str]) -> tuple[str, str]:
    """Header and alignment cells (with leading ``|``) for extra setting columns."""
    return "".join(f" {n} |" for n in names), "---|" * len(names)


def rows(run_dir: str | Path) -> list[dict]:
    """One flat row per stored cell, with the matching clean return and the ratio to it.

    Settings beyond :data:`CELL_COLUMNS` that differ between cells (``n_envs``) become
    columns too, and a clean return is only matched with cells of the same settings.
    """
    records = ResultsStore(run_dir).records("attack")
    # A learned attack's adversary (file or shipped digest) is part of the attack, not a
    # setting: its clean cell has none.
    extra = varying_settings((r["cell"] for r in records),
                             shown=(*CELL_COLUMNS, "adversary", "shipped_adversary"))  # fmt: skip
    match = ("policy", "env", "norm", "seed", "episodes", *extra)
    clean = {}
    for rec in records:
        c = rec["cell"]
        if c["attack"] == "none" or c["eps"] == 0:
            clean[tuple(setting_key(c.get(k)) for k in match)] = rec["result"]["mean_return"]
    out = []
    for rec in records:
        c, r = rec["cell"], rec["result"]
        base = clean.get(tuple(setting_key(c.get(k)) for k in match))
        row = {**{k: c[k] for k in CELL_COLUMNS}, **{k: c.get(k) for k in extra},
               **{k: r[k] for k in ("mean_return", "std_return", "mean_attack_norm",
                                     "max_attack_norm", "steps", "seconds")}}  # fmt: skip
        row["clean_return"] = base
        row["return_ratio"] = r["mean_return"] / base if base else None
        out.append(row)
    order = {"none": 0}
    out.sort(key=lambda r: (r["policy"], r["env"], r["norm"], r["episodes"],
                            *(setting_order(r[k]) for k in extra), r["seed"],
                            order.get(r["attack"], 1), r["attack"], r["eps"]))  # fmt: skip
    return out


def table_settings(table: list[dict]) -> list[str]:
    """The settings in which one policy's rows differ, beyond attack and eps (seed too)."""
    extra = [k for k in table[0] if k not in COLUMNS] if table else []
    by_policy: dict[str, list[dict]] = defaultdict(list)
    for r in table:
        by_policy[r["policy"]].append(r)
    return [
        k
        for k in ("seed", *SETTINGS, *extra)
        if any(len({setting_key(r[k]) for r in rs}) > 1 for rs in by_policy.values())
    ]


def to_csv(table: list[dict], columns: Sequence[str] = COLUMNS) -> str:
    """Rows as CSV text with a header (every report's CSV goes through here)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()


def attack_settings(table: list[dict]) -> list[str]:
    """What the rows of an attack table share (or which values they take): env(s),
    episodes, norm and eps space, seeds."""
    envs = ", ".join(dict.fromkeys(r["env"] for r in table))
    return [
        f"env {envs}" if envs else "",
        count_text((r["episodes"] for r in table), "episode") + " per cell",
        f"eps: {norm_text(r['norm'] for r in table)} norm, in the normalised observation space",
        seeds_text(r["seed"] for r in table),
    ]


def to_markdown(table: list[dict]) -> str:
    """Per policy: clean return, then each attack's return, its % of clean, and its size;
    a column for every setting the rows differ in (seed, episodes, norm, ...), and the
    settings they share in the caption line above."""
    names = table_settings(table)
    head, align = markdown_columns(names)
    lines = [
        caption(*attack_settings(table), "return: mean ± std over each cell's episodes"),
        "",
        f"| policy |{head} attack | eps | return (mean ± std) | % of clean | mean attack norm |",
        f"|---|{align}---|---:|---:|---:|---:|",
    ]
    for r in table:
        ratio = "" if r["return_ratio"] is None else f"{100 * r['return_ratio']:.0f}%"
        settings = "".join(f" {setting_text(r[n])} |" for n in names)
        lines.append(
            f"| {r['policy']} |{settings} {r['attack']} | {r['eps']:g} | "
            f"{r['mean_return']:.1f} ± {r['std_return']:.1f} | {ratio} | "
            f"{r['mean_attack_norm']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def returns_figure(table: list[dict]):
    """Return vs eps, one line per attack (and per setting that differs): the mean over
    seeds, error bars ± the std over all seeds' episodes; one panel per policy, with the
    clean return at eps = 0 and as a dashed level. Returns the matplotlib figure."""
    names = [n for n in table_settings(table) if n != "seed"]
    policies = sorted({r["policy"] for r in table})
    panels = Panels(len(policies))
    for ax, policy in zip(panels.axes, policies, strict=True):
        mine = [r for r in table if r["policy"] == policy]
        clean: dict[str, list[dict]] = defaultdict(list)
        curves: dict[tuple[str, str], dict[float, list[dict]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in mine:
            label = settings_label(r, names)
            if r["attack"] == "none":
                clean[label].append(r)
            else:
                curves[(r["attack"], label)][r["eps"]].append(r)
        for (attack, label), points in sorted(curves.items()):
            if clean.get(label):
                points.setdefault(0.0, clean[label])
            xs = sorted(points)
            panels.line(ax, xs, [_mean(points[x]) for x in xs], attack + label,
                        err=[_spread(points[x]) for x in xs])  # fmt: skip
        for label, rs in sorted(clean.items()):
            panels.reference(ax, _mean(rs), "clean" + label)
        envs = ", ".join(dict.fromkeys(r["env"] for r in mine))
        ax.set_title(f"{policy} on {envs}", fontsize=9)
        norms = norm_text(r["norm"] for r in mine)
        ax.set_xlabel(f"eps ({norms}, normalised observations)")
        ax.set_ylabel("mean episode return")
    spread = "points: mean over seeds, error bars: ± std over all their episodes"
    return panels.finish(summary(*attack_settings(table), spread))


def _mean(rows: list[dict]) -> float:
    return float(np.mean([r["mean_return"] for r in rows]))


def _spread(rows: list[dict]) -> float:
    return pooled_std([r["mean_return"] for r in rows], [r["std_return"] for r in rows],
                      [r["episodes"] for r in rows])  # fmt: skip


def plot(table: list[dict], path: Path) -> None:
    """Save :func:`returns_figure` as a PNG."""
    save_png(returns_figure(table), path)


def write_reports(run_dir: str | Path) -> dict[str, Path]:
    """Rebuild ``results.csv``, ``results.md`` and ``returns_vs_eps.png`` from the store."""
    run_dir = Path(run_dir)
    table = rows(run_dir)
    paths = {
        "csv": run_dir / "results.csv",
        "markdown": run_dir / "results.md",
        "plot": run_dir / "returns_vs_eps.png",
    }
    extra = [k for k in (table[0] if table else {}) if k not in COLUMNS]
    atomic_write_bytes(paths["csv"], to_csv(table, [*CELL_COLUMNS, *extra, *COLUMNS[7:]]).encode())
    atomic_write_bytes(paths["markdown"], to_markdown(table).encode())
    if table:
        plot(table, paths["plot"])
    return paths
