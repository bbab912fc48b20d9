"""The critic-Lipschitz report, rebuilt from the store: ``critic_lipschitz.{csv,md,png}``.

Per env, variant and eps: clean and attacked returns (means over seeds, with each seed's
return drop), the drop in ``V`` the attack achieves (absolute and in units of ``V``'s spread
over visited states), ``V``'s local Lipschitz estimate, and the training throughput as a
ratio to the vanilla cell of the same env, seed and budget (same run, same machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from advrl.bench.critic_lipschitz import TASKS, VARIANTS
from advrl.bench.plotting import Panels, save_png
from advrl.bench.report import caption, count_text, seeds_text, summary, to_csv
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

FIELDS = ("env", "variant", "seed", "eps", "clean_return", "attacked_return", "return_drop",
          "v_drop", "v_drop_rel", "lipschitz_max", "train_fps", "fps_ratio")  # fmt: skip


def _steps(cell: dict[str, Any]) -> int:
    return cell.get("steps") or TASKS[cell["env"]].steps


def bootstrap_ci(values, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of ``values``.

    Example:
        >>> bootstrap_ci([1.0, 1.0, 1.0])
        (1.0, 1.0)
    """
    values = np.asarray(values, float)
    draws = np.random.default_rng(seed).choice(values, (n, len(values))).mean(axis=1)
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def critic_lipschitz_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """One row per cell and eps (CSV fields :data:`FIELDS`)."""
    records = ResultsStore(run_dir).records("critic_lipschitz")
    vanilla = {(r["cell"]["env"], r["cell"]["seed"], _steps(r["cell"])): r["result"]["train_fps"]
               for r in records if r["cell"]["variant"] == "vanilla"}  # fmt: skip
    rows = []
    for r in records:
        c, res = r["cell"], r["result"]
        clean = float(np.mean(res["clean_returns"]))
        base = vanilla.get((c["env"], c["seed"], _steps(c)))
        for eps, att in res["attacked"].items():
            attacked = float(np.mean(att["returns"]))
            rows.append({"env": c["env"], "variant": c["variant"], "seed": c["seed"],
                         "eps": float(eps), "clean_return": clean, "attacked_return": attacked,
                         "return_drop": clean - attacked, "v_drop": att["v_drop"],
                         "v_drop_rel": att["v_drop_rel"], "lipschitz_max": res["lipschitz_max"],
                         "train_fps": res["train_fps"],
                         "fps_ratio": res["train_fps"] / base if base else float("nan"),
                         "_returns": (res["clean_returns"], att["returns"])})  # fmt: skip
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows.sort(key=lambda r: (r["env"], order[r["variant"]], r["eps"], r["seed"]))
    return rows


def write_critic_lipschitz_report(run_dir: str | Path) -> dict[str, Path]:
    """``critic_lipschitz.csv``/``.md`` and ``critic_lipschitz.png`` (returns and the V drop
    against eps, a line per variant)."""
    run_dir = Path(run_dir)
    rows = critic_lipschitz_rows(run_dir)
    records = ResultsStore(run_dir).records("critic_lipschitz")
    paths = {"csv": run_dir / "critic_lipschitz.csv", "markdown": run_dir / "critic_lipschitz.md",
             "plot": run_dir / "critic_lipschitz.png"}  # fmt: skip
    atomic_write_bytes(paths["csv"], to_csv([{k: r[k] for k in FIELDS} for r in rows],
                                            FIELDS).encode())  # fmt: skip
    cells = [r["cell"] for r in records]
    lines = [caption(count_text((_steps(c) for c in cells), "PPO step") + " per run",
                     count_text((c["episodes"] for c in cells), "episode") + " per evaluation",
                     seeds_text(c["seed"] for c in cells),
                     "attack: CriticAttack (l_inf PGD on V, 10 steps); return drop: clean - "
                     "attacked, per seed, then the mean and a 95% bootstrap interval over all "
                     "episodes' drops (clean episode minus attacked episode, paired by index); "
                     "V drop: mean V(s) - V(attack(s)) over visited states, / std of V there"),
             "",
             "| env | variant | eps | seeds | clean | attacked | drop (95% CI) | drop per seed | "
             "V drop | V drop / std V | Lipschitz (max grad V) | throughput vs vanilla |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["env"], r["variant"], r["eps"]), []).append(r)
    for (env, variant, eps), rs in groups.items():
        paired = np.concatenate([np.asarray(c, float)[: min(len(c), len(a))]
                                 - np.asarray(a, float)[: min(len(c), len(a))]
                                 for c, a in (r["_returns"] for r in rs)])  # fmt: skip
        low, high = bootstrap_ci(paired)
        m = {k: float(np.mean([r[k] for r in rs])) for k in FIELDS[4:]}
        per_seed = ", ".join(f"{r['return_drop']:.0f}" for r in rs)
        lines.append(f"| {env} | {variant} | {eps:g} | {len(rs)} | {m['clean_return']:.1f} | "
                     f"{m['attacked_return']:.1f} | {m['return_drop']:.1f} ({low:.1f}, "
                     f"{high:.1f}) | {per_seed} | {m['v_drop']:.2f} | {m['v_drop_rel']:.2f} | "
                     f"{m['lipschitz_max']:.2f} | {m['fps_ratio']:.2f} |")  # fmt: skip
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if rows:
        save_png(_figure(rows, cells), paths["plot"])
    return paths


def critic_lipschitz_figure(run_dir: str | Path):
    """The figure :func:`write_critic_lipschitz_report` saves (None for an empty store)."""
    rows = critic_lipschitz_rows(run_dir)
    cells = [r["cell"] for r in ResultsStore(run_dir).records("critic_lipschitz")]
    return _figure(rows, cells) if rows else None


def _figure(rows: list[dict], cells: list[dict]):
    """Per env: return under the critic attack (eps 0: clean) and the relative V drop, a
    line per variant (mean over seeds, bars: std over seeds)."""
    envs = sorted({r["env"] for r in rows})
    panels = Panels(2, len(envs), width=4.6, height=3.5)
    for row, env in enumerate(envs):
        for variant in VARIANTS:
            rs = [r for r in rows if r["env"] == env and r["variant"] == variant]
            if not rs:
                continue
            eps = sorted({r["eps"] for r in rs})
            seeds = sorted({r["seed"] for r in rs})
            clean = [next(r["clean_return"] for r in rs if r["seed"] == s) for s in seeds]
            ret = [clean] + [[r["attacked_return"] for r in rs if r["eps"] == e] for e in eps]
            rel = [[0.0] * len(seeds)] + [[r["v_drop_rel"] for r in rs if r["eps"] == e]
                                          for e in eps]  # fmt: skip
            x = [0.0, *eps]
            panels.line(panels.grid[row][0], x, [np.mean(v) for v in ret], variant,
                        err=[np.std(v) for v in ret])  # fmt: skip
            panels.line(panels.grid[row][1], x, [np.mean(v) for v in rel], variant,
                        err=[np.std(v) for v in rel])  # fmt: skip
        for col, what in enumerate(("return under the critic attack", "V drop / std of V")):
            ax = panels.grid[row][col]
            ax.set_title(f"{env}: {what}", fontsize=9)
            ax.set_xlabel("eps (l_inf, raw observation)")
            ax.set_ylabel("episode return" if col == 0 else "mean V drop / std V")
    return panels.finish(summary(
        "Lipschitz-regularised critics vs the critic attack",
        count_text((_steps(c) for c in cells), "PPO step") + " per run",
        seeds_text(c["seed"] for c in cells),
        "points: mean over seeds; bars: std over seeds",
    ))  # fmt: skip
