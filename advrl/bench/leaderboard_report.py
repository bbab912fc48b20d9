"""The leaderboard's reports, rebuilt from the store: ``leaderboard.{md,csv,png}``.

One row per victim (env, defense) and setting: the natural return, the return under each
attack, and the worst case with the attack that achieved it. Per seed the worst case is the
lowest return over the attacks run at that seed; a row shows the median over seeds of each
number (the SA-PPO protocol reports medians). Cells that differ in a setting (episodes,
n_envs, eps, norm, or the adversary's training steps) are never merged: the setting becomes a
column (:func:`~advrl.bench.report.varying_settings`). A learned attack's ``adversaries``
entry says whether it ran on the shipped adversary or on one the run trained (and how long).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from advrl.bench.adversaries import trained_adversaries
from advrl.bench.leaderboard import (
    DEFENSES,
    LEADERBOARD_ATTACKS,
    LEADERBOARD_ENVS,
    base_env,
    defense_of,
)
from advrl.bench.plotting import REFERENCE, Panels, save_png
from advrl.bench.report import (
    caption,
    count_text,
    norm_text,
    seeds_text,
    setting_key,
    setting_text,
    summary,
    to_csv,
    varying_settings,
)
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

Value = tuple[float, float]
"""A cell's mean return and its std over the episodes."""

SHOWN = ("policy", "env", "attack", "eps", "adversary", "shipped_adversary")
"""Eval-cell fields a row shows in its own way (eps per row; attack as a column)."""
TRAINING_SHOWN = ("adversary_kind", "victim", "eps", "norm", "victim_digest", "steps")
"""Adversary-cell fields that follow from the eval cell (steps is always in the label)."""


def _learned() -> set[str]:
    from advrl.attacks.learned.registry import LEARNED_ATTACKS

    return set(LEARNED_ATTACKS)


def _adversary_labels(run_dir: str | Path) -> dict[str | None, str]:
    """Adversary file -> how it was made: ``"shipped"`` (None) or ``"trained 5e+05 steps"``
    (with any other training setting that differs between the run's adversaries)."""
    trained = trained_adversaries(run_dir)
    extra = varying_settings(trained.values(), shown=TRAINING_SHOWN)
    labels: dict[str | None, str] = {None: "shipped"}
    for path, config in trained.items():
        more = "".join(f", {k}={setting_text(config.get(k))}" for k in extra)
        labels[path] = f"trained {config['steps']} steps{more}"
    return labels


def leaderboard_rows(run_dir: str | Path) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """``(rows, attacks, settings)``: one row per victim and setting; ``attacks`` are the
    attack columns in leaderboard order, ``settings`` the extra setting columns.

    Each row has ``env`` (the base task), ``defense``, ``policy``, the settings, ``eps``,
    ``adversaries``, ``seeds``, ``natural`` and one entry per attack (medians over seeds, None
    where missing), ``worst_case``, ``worst_attack``, ``worst_ratio``, and ``per_seed``
    (seed -> {"natural", "worst_case"} and their std over the episodes, ``"natural_std"``,
    ``"worst_case_std"``) for the plot's error bars.
    """
    records = ResultsStore(run_dir).records("attack")
    learned = _learned()
    labels = _adversary_labels(run_dir)
    settings = varying_settings((r["cell"] for r in records), shown=SHOWN, within=("policy",))
    # Cells of one victim and attack on two different shipped files (re-shipped between
    # runs) are labelled by file digest, so they are never merged.
    digests: dict[tuple, set] = defaultdict(set)
    for rec in records:
        c = rec["cell"]
        if c.get("adversary") is None and "shipped_adversary" in c:
            digests[(c["policy"], c["attack"])].add(c["shipped_adversary"])

    def base(c: dict) -> tuple:
        return (c["policy"], c["env"], *(setting_key(c.get(k)) for k in settings))

    # Values are (mean, std over the cell's episodes) per seed.
    natural: dict[tuple, dict[int, Value]] = defaultdict(dict)
    plain: dict[tuple, dict[str, dict[int, Value]]] = defaultdict(lambda: defaultdict(dict))
    by_label: dict[tuple, dict[str, dict[str, dict[int, Value]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict))
    )
    configs: dict[tuple, dict] = {}
    for rec in records:
        c, r = rec["cell"], rec["result"]
        value = (r["mean_return"], r.get("std_return") or 0.0)
        configs.setdefault(base(c), c)
        if c["attack"] == "none" or c["eps"] == 0:
            natural[base(c)][c["seed"]] = value
        elif c["attack"] in learned:
            label = labels.get(c.get("adversary"), f"file {c.get('adversary')}")
            if len(digests.get((c["policy"], c["attack"]), ())) > 1:
                label = f"shipped {c['shipped_adversary']}"
            by_label[(*base(c), c["eps"])][label][c["attack"]][c["seed"]] = value
        else:
            plain[(*base(c), c["eps"])][c["attack"]][c["seed"]] = value
    rows = []
    for key in sorted(set(plain) | set(by_label), key=lambda k: [str(x) for x in k]):
        for columns, sources in _label_columns(plain.get(key, {}), by_label.get(key, {})):
            rows.append(_row(configs[key[:-1]], settings, key[-1], sources,
                             natural.get(key[:-1], {}), columns))  # fmt: skip
    covered = {key[:-1] for key in (*plain, *by_label)}
    for b in natural.keys() - covered:  # clean cells only, so far
        rows.append(_row(configs[b], settings, None, {}, natural[b], {}))
    attacks = sorted({a for r in rows for a in r["attacks"]}, key=_attack_order)
    rows.sort(key=lambda r: (_order(r["env"], LEADERBOARD_ENVS), _order(r["defense"], DEFENSES),
                             r["policy"], [setting_key(r[k]) for k in settings],
                             r["adversaries"]))  # fmt: skip
    return rows, attacks, settings


def _order(value: str, known: tuple[str, ...]) -> tuple:
    return (known.index(value), "") if value in known else (len(known), value)


def _attack_order(attack: str) -> tuple:
    return _order(attack, LEADERBOARD_ATTACKS)


def _label_columns(plain: dict, by_label: dict) -> list[tuple[dict, dict]]:
    """The rows of one victim and setting, as ``(columns, sources)`` pairs: one row per way
    its learned attacks were trained; ``sources`` maps each learned attack to that way.

    Shipped adversaries do not depend on a run's settings, so they fill every row, unless an
    attack was also trained there (a run with ``--no-use-shipped``): then the shipped one gets
    a row of its own rather than being hidden.
    """
    shipped = by_label.get("shipped", {})
    trained = {lab: cols for lab, cols in by_label.items() if lab != "shipped"}
    rows = []
    for label, cols in sorted(trained.items()):
        sources = {a: "shipped" for a in shipped} | {a: label for a in cols}
        rows.append(({**plain, **shipped, **cols}, sources))
    if not trained or any(all(a in cols for cols in trained.values()) for a in shipped):
        rows.append(({**plain, **shipped}, {a: "shipped" for a in shipped}))
    return rows


def _describe(sources: dict[str, str]) -> str:
    """The ``adversaries`` column: ``optimal: shipped; rs, rs_mad: trained 500000 steps``."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for attack in sorted(sources, key=_attack_order):
        by_source[sources[attack]].append(attack)
    return "; ".join(f"{', '.join(a)}: {src}" for src, a in by_source.items()) or "-"


def _row(config: dict, settings: list[str], eps, sources: dict, natural: dict, columns: dict):
    env = base_env(config["env"])
    seeds = sorted(set(natural) | {s for values in columns.values() for s in values})
    worst: dict[int, tuple[float, str, float]] = {}
    for seed in seeds:
        at_seed = [(v[seed][0], a, v[seed][1]) for a, v in columns.items() if seed in v]
        if at_seed:
            worst[seed] = min(at_seed)
    counts = Counter(a for _, a, _ in worst.values())
    if len(counts) == 1:
        worst_attack = next(iter(counts))
    else:
        worst_attack = ", ".join(f"{a} ({n}/{len(worst)} seeds)" for a, n in counts.most_common())
    median_natural = _median(m for m, _ in natural.values())
    median_worst = _median(m for m, _, _ in worst.values())
    none = (None, None, None)
    row = {
        "env": env,
        "defense": defense_of(config["policy"], env),
        "policy": config["policy"],
        **{k: config.get(k) for k in settings},
        "eps": eps,
        "adversaries": _describe(sources),
        "seeds": " ".join(str(s) for s in seeds),
        "natural": median_natural,
        **{a: _median(m for m, _ in v.values()) for a, v in columns.items()},
        "worst_case": median_worst,
        "worst_attack": worst_attack or None,
        "worst_ratio": median_worst / median_natural  # a ratio to a return <= 0 means nothing
        if median_worst is not None and median_natural is not None and median_natural > 0
        else None,
        "attacks": sorted(columns, key=_attack_order),
        "per_seed": {
            s: dict(zip(("natural", "natural_std"), natural.get(s, none)[:2], strict=True))
            | dict(zip(("worst_case", "worst_case_std"), worst.get(s, none)[::2], strict=True))
            for s in seeds
        },
    }
    return row


def _median(values) -> float | None:
    values = [float(v) for v in values]
    return float(np.median(values)) if values else None


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def shared_settings(run_dir: str | Path) -> list[str]:
    """What every leaderboard cell shares (or the values it takes): episodes, norm, seeds."""
    cells = [r["cell"] for r in ResultsStore(run_dir).records("attack")]
    return [
        count_text((c["episodes"] for c in cells), "episode") + " per cell",
        f"eps: {norm_text(c['norm'] for c in cells)} norm, in each victim's normalised "
        "observation space",
        seeds_text(c["seed"] for c in cells),
    ]


def to_markdown(
    rows: list[dict], attacks: list[str], settings: list[str], shared: list[str] = ()
) -> str:
    """The leaderboard table, with the ``shared`` settings (:func:`shared_settings`) in the
    caption line above it."""
    extra = "".join(f" {k} |" for k in settings)
    lines = [
        caption(*shared, "returns: mean over a cell's episodes, median over seeds"),
        "",
        f"| env | defense |{extra} eps | seeds | natural | "
        + "".join(f"{a} | " for a in attacks)
        + "worst case | worst attack | adversaries |",
        "|---|---|" + "---|" * len(settings) + "---:|---|---:|" + "---:|" * len(attacks)
        + "---:|---|---|",
    ]  # fmt: skip
    for r in rows:
        ratio = "" if r["worst_ratio"] is None else f" ({100 * r['worst_ratio']:.0f}%)"
        cells = "".join(f" {_number(r.get(a))} |" for a in attacks)
        lines.append(
            f"| {r['env']} | {r['defense']} |"
            + "".join(f" {setting_text(r[k])} |" for k in settings)
            + f" {setting_text(r['eps'])} | {r['seeds']} | {_number(r['natural'])} |{cells} "
            f"{_number(r['worst_case'])}{ratio} | {r['worst_attack'] or '-'} | "
            f"{r['adversaries']} |"
        )
    note = (
        "\nReturns are means over each cell's deterministic episodes, then medians over seeds; "
        "the worst case is, per seed, the lowest return over the attacks, then the median over "
        "seeds (its % of the natural return in brackets). eps: l_inf (unless a norm column "
        "says otherwise) in each victim's normalised observation space; smoothed victims are "
        "attacked after their smoothing noise.\n"
    )
    return "\n".join(lines) + "\n" + note


def leaderboard_figure(run_dir: str | Path):
    """The figure :func:`write_leaderboard_report` saves (None for an empty store)."""
    rows, _, settings = leaderboard_rows(run_dir)
    return _figure(rows, settings, shared_settings(run_dir)) if rows else None


def _figure(rows: list[dict], settings: list[str], shared: list[str]):
    """Per env: natural and worst-case return per defense (medians over seeds); error bars:
    the range over seeds, or ± the std over the episodes of a row with one seed."""
    envs = list(dict.fromkeys(r["env"] for r in rows))
    panels = Panels(len(envs), width=max(4.5, 1.2 * max(len(rows), 1) / len(envs) + 2))
    for ax, env in zip(panels.axes, envs, strict=True):
        mine = [r for r in rows if r["env"] == env]
        xs = np.arange(len(mine))
        for offset, name in ((-0.12, "natural"), (0.12, "worst_case")):
            medians = np.array([np.nan if r[name] is None else r[name] for r in mine])
            err = np.array([_error_bar(r, name) for r in mine]).T
            panels.line(ax, xs + offset, medians, name.replace("_", " "), err=err, join=False)
        ax.set_xticks(xs, [_tick(r, mine, settings) for r in mine], rotation=20, fontsize=8)
        eps = sorted({setting_text(r["eps"]) for r in mine if r["eps"] is not None})
        ax.set_title(f"{env} (eps {'/'.join(eps) or '-'})")
        ax.set_xlim(-0.8, len(mine) - 0.2)
        ax.set_xlabel("defense")
        ax.set_ylabel("median return over seeds")
        ax.axhline(0, color="grey", linewidth=0.8, gid=REFERENCE)
    spread = "error bars: range over seeds (one seed: ± std over its episodes)"
    return panels.finish(summary("leaderboard on " + ", ".join(envs), *shared, spread))


def _error_bar(row: dict, name: str) -> tuple[float, float]:
    """(below, above) the median: the range over seeds, or one seed's std over episodes."""
    if row[name] is None:
        return (0.0, 0.0)
    seeds = [v for v in row["per_seed"].values() if v[name] is not None]
    if len(seeds) == 1:
        std = seeds[0][f"{name}_std"] or 0.0
        return (std, std)
    values = [v[name] for v in seeds]
    return (row[name] - min(values), max(values) - row[name])


def plot(rows: list[dict], settings: list[str], path: Path, shared: list[str] = ()) -> None:
    """Save the leaderboard figure as a PNG."""
    save_png(_figure(rows, settings, list(shared)), path)


def _tick(row: dict, rows: list[dict], settings: list[str]) -> str:
    """A defense, plus the settings that tell it apart from the env's other rows of it."""
    same = [r for r in rows if r["defense"] == row["defense"]]
    differ = [k for k in (*settings, "eps", "adversaries")
              if len({setting_key(r[k]) for r in same}) > 1]  # fmt: skip
    return "\n".join([row["defense"], *(f"{k}={setting_text(row[k])}" for k in differ)])


def write_leaderboard_report(run_dir: str | Path) -> dict[str, Path]:
    """Rebuild ``leaderboard.md``, ``leaderboard.csv`` and ``leaderboard.png`` from the store."""
    run_dir = Path(run_dir)
    rows, attacks, settings = leaderboard_rows(run_dir)
    shared = shared_settings(run_dir)
    paths = {
        "markdown": run_dir / "leaderboard.md",
        "csv": run_dir / "leaderboard.csv",
        "plot": run_dir / "leaderboard.png",
    }
    columns = ["env", "defense", "policy", *settings, "eps", "seeds", "natural", *attacks,
               "worst_case", "worst_attack", "worst_ratio", "adversaries"]  # fmt: skip
    table = [{k: r.get(k) for k in columns} for r in rows]
    atomic_write_bytes(paths["csv"], to_csv(table, columns).encode())
    atomic_write_bytes(paths["markdown"], to_markdown(rows, attacks, settings, shared).encode())
    if rows:
        plot(rows, settings, paths["plot"], shared)
    return paths
