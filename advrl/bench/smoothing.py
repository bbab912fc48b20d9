"""The smoothing suite: clean smoothed episodes, certificates, and the empirical check.

One clean cell per (policy, sigma) holds the Monte Carlo returns the certificate is built
from; one attack cell per budget B holds the returns under :class:`SmoothedPGD` with that
total l_2 budget. The report certifies every budget from the clean cell and puts the
empirical attacked return beside the bound (it must never fall below it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key
from advrl.bench.plotting import Panels, save_png
from advrl.bench.report import (
    count_text,
    seeds_text,
    setting_order,
    setting_text,
    settings_label,
    summary,
    to_csv,
    varying_settings,
)
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes


@dataclass(frozen=True)
class SmoothingCell:
    """Episodes of a smoothed zoo policy: clean (``budget == 0``) or under SmoothedPGD."""

    policy: str
    sigma: float
    budget: float
    episodes: int
    seed: int = 0
    n_envs: int = 1000

    kind: ClassVar[str] = "smoothing"

    @property
    def label(self) -> str:
        return f"{self.policy} sigma={self.sigma:g} B={self.budget:g}"

    def __post_init__(self) -> None:
        if not math.isfinite(self.budget) or self.budget < 0:
            raise ValueError(f"budgets must be finite numbers >= 0, got {self.budget!r}")
        if not math.isfinite(self.sigma) or self.sigma <= 0:
            raise ValueError(f"sigma must be a finite number > 0, got {self.sigma!r}")
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        return config_key(f"smooth-{self.policy}-B{self.budget:g}-s{self.seed}", self.to_dict())

    def run(self) -> dict[str, Any]:
        import advrl.zoo
        from advrl.agents.smoothing.attack import SmoothedPGD
        from advrl.agents.smoothing.rollout import SmoothedTask, smoothed_rollouts

        victim = advrl.zoo.load(self.policy)
        task = SmoothedTask.from_zoo(victim, sigma=self.sigma)
        attack = None
        if self.budget > 0:
            attack = SmoothedPGD(self.budget, task.sigma, task.horizon)
        # Clean and attacked cells use different seeds so the check is not evaluated on
        # the very episodes the certificate was estimated from.
        seed = self.seed if attack is None else self.seed + 1_000_003
        result = smoothed_rollouts(
            victim.torch_policy(), task, self.episodes, n_envs=self.n_envs, seed=seed,
            attack=attack,
        )  # fmt: skip
        out = {
            "mean_return": float(result.returns.mean()),
            "std_return": float(result.returns.std()),
            "returns": result.returns.tolist(),
            "seconds": round(result.seconds, 3),
            "horizon": task.horizon,
        }
        if result.applied_budget is not None:
            out["max_applied_budget"] = float(result.applied_budget.max())
        return out


def parse_budgets(text: str) -> list[float]:
    """``"0:1:0.05"`` (start:stop:step, stop included) or ``"0,0.2,0.5"``."""
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0:
                raise ValueError
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + i * step, 10) for i in range(count)]
        else:
            values = [float(v) for v in text.split(",")]
    except ValueError as err:
        raise ValueError(
            f"budgets {text!r} must be 'start:stop:step' (step > 0) or comma-separated numbers"
        ) from err
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"budgets must be finite numbers >= 0, got {values}")
    return values


def smoothing_suite(
    policies: list[str],
    budgets: list[float],
    *,
    sigma: float | None = None,
    clean_episodes: int = 10_000,
    attack_episodes: int = 200,
    seed: int = 0,
) -> list[SmoothingCell]:
    """One clean cell and one attacked cell per positive budget, per policy."""
    import advrl.zoo

    cells = []
    for policy in policies:
        if policy not in advrl.zoo.names():
            raise KeyError(f"unknown zoo policy {policy!r}; available: {advrl.zoo.names()}")
        s = sigma if sigma is not None else _zoo_sigma(policy)
        cells.append(SmoothingCell(policy, s, 0.0, clean_episodes, seed))
        cells += [
            SmoothingCell(policy, s, float(b), attack_episodes, seed, n_envs=attack_episodes)
            for b in budgets
            if b > 0
        ]
    return cells


def _zoo_sigma(policy: str) -> float:
    """The noise a zoo policy was trained with, read from its card (no model is built)."""
    import json

    import advrl.zoo
    from advrl.agents.smoothing.rollout import SmoothedTask

    card = json.loads((advrl.zoo.ZOO_DIR / f"{policy}.json").read_text())
    return SmoothedTask.from_env(card["env_id"], card.get("env_kwargs", {}), policy).sigma


def certificate_rows(
    run_dir: str | Path, budgets: list[float], alpha: float = 0.05, method: str = "clopper_pearson"
) -> list[dict[str, Any]]:
    """Per policy and budget: the certified bounds and the empirical attacked return.

    One certificate per clean cell: clean cells of one policy and sigma that differ in a
    setting (seed, episodes) are certified apart, with the setting as a column. Attacked
    cells are matched on policy, sigma, seed and budget; variants of those (other attack
    episodes) give a row each, with their settings as ``attacked_*`` columns.
    """
    from advrl.agents.smoothing.certify import certify

    records = ResultsStore(run_dir).records("smoothing")
    clean = [r for r in records if r["cell"]["budget"] == 0]
    attacked = [r for r in records if r["cell"]["budget"] > 0]
    ident = ("policy", "sigma")
    clean_extra = varying_settings((r["cell"] for r in clean), shown=("budget", *ident),
                                   within=ident, averaged=())  # fmt: skip
    match = (*ident, "seed", "budget")
    hit_extra = varying_settings((r["cell"] for r in attacked), shown=match, within=match,
                                 averaged=())  # fmt: skip
    hits: dict[tuple, list[dict]] = {}
    for r in sorted(attacked, key=lambda r: [setting_order(r["cell"][k]) for k in hit_extra]):
        hits.setdefault(tuple(r["cell"][k] for k in match), []).append(r)
    rows = []
    clean.sort(key=lambda r: (r["cell"]["policy"], r["cell"]["sigma"],
                              *(setting_order(r["cell"][k]) for k in clean_extra)))  # fmt: skip
    for rec in clean:
        c = rec["cell"]
        returns = np.asarray(rec["result"]["returns"])
        cert = certify(returns, c["sigma"], budgets, alpha=alpha, method=method)
        for i, b in enumerate(cert.budgets):
            # At B = 0 the "attack" is the clean run itself.
            variants = hits.get((c["policy"], c["sigma"], c["seed"], float(b))) or [None]
            for hit in variants:
                result = hit["result"] if hit else None
                empirical = result["mean_return"] if hit else (cert.clean_mean if b == 0 else None)
                row = {
                    "policy": c["policy"], "sigma": c["sigma"],
                    **{k if k == "seed" else f"clean_{k}": c[k] for k in clean_extra
                       if k != "episodes"},
                    "budget": float(b),
                    "per_step_eps": float(b) / math.sqrt(rec["result"]["horizon"]),
                    "certified_mean": float(cert.expected[i]),
                    "clean_mean": cert.clean_mean, "clean_std": float(returns.std()),
                    "clean_episodes": cert.n, "alpha": alpha, "method": method,
                    "attacked_mean": empirical,
                    "attacked_std": float(np.std(result["returns"])) if hit else (
                        float(returns.std()) if b == 0 else None),
                    "attacked_episodes": len(result["returns"]) if hit else None,
                    **{f"attacked_{k}": hit["cell"][k] if hit else None for k in hit_extra
                       if k != "episodes"},
                }  # fmt: skip
                for level, value in zip(cert.levels, cert.percentiles[i], strict=True):
                    row[f"certified_p{level:g}"] = float(value)
                rows.append(row)
    return rows


def write_certificate_report(
    run_dir: str | Path, budgets: list[float], alpha: float = 0.05, method: str = "clopper_pearson"
) -> dict[str, Path]:
    """``certificate.csv`` and ``certificate.png`` (bound vs B with the attacked return)."""

    run_dir = Path(run_dir)
    rows = certificate_rows(run_dir, budgets, alpha, method)
    paths = {"csv": run_dir / "certificate.csv", "plot": run_dir / "certificate.png"}
    atomic_write_bytes(paths["csv"], to_csv(rows, list(rows[0]) if rows else []).encode())
    if rows:
        save_png(_figure(rows, _seeds(run_dir)), paths["plot"])
    return paths


def certificate_figure(
    run_dir: str | Path, budgets: list[float], alpha: float = 0.05, method: str = "clopper_pearson"
):
    """The figure :func:`write_certificate_report` saves (None for an empty store)."""
    rows = certificate_rows(run_dir, budgets, alpha, method)
    return _figure(rows, _seeds(run_dir)) if rows else None


def _seeds(run_dir: str | Path) -> list[int]:
    return [r["cell"]["seed"] for r in ResultsStore(run_dir).records("smoothing")]


def _differing(groups: list[dict[str, Any]], keys: list[str]) -> list[str]:
    return [k for k in keys if len({setting_text(g[k]) for g in groups}) > 1]


NOT_PANEL = ("clean_mean", "clean_std")
NOT_LINE = ("attacked_mean", "attacked_std")
"""Row fields that are values, not settings that tell panels or lines apart."""


def _ci(std: float | None, n: int | None) -> float:
    """Half-width of the normal 95% CI of a mean of ``n`` episodes (0 when unknown)."""
    return 1.96 * std / math.sqrt(n) if std is not None and n else 0.0


def _env_of(policy: str) -> str:
    """The env a zoo policy runs on (from its card), or the policy's name if unknown."""
    import json

    import advrl.zoo

    path = advrl.zoo.ZOO_DIR / f"{policy}.json"
    return json.loads(path.read_text())["env_id"] if path.is_file() else policy


def _figure(rows: list[dict[str, Any]], seeds: list[int]):
    """A panel per certificate (policy, sigma and clean settings): the certified bound, and
    a line of empirical attacked returns (95% CI error bars) per attacked variant."""
    panel_keys = [k for k in rows[0] if k in ("policy", "sigma", "seed")
                  or k.startswith("clean_") and k not in NOT_PANEL]  # fmt: skip
    line_keys = [k for k in rows[0] if k.startswith("attacked_") and k not in NOT_LINE]
    by_panel: dict[tuple, list[dict]] = {}
    for r in rows:
        by_panel.setdefault(tuple(setting_order(r[k]) for k in panel_keys), []).append(r)
    titled = _differing([rs[0] for rs in by_panel.values()], panel_keys[2:])
    panels = Panels(len(by_panel), width=5.0, height=3.8)
    for ax, (_, mine) in zip(panels.axes, sorted(by_panel.items()), strict=True):
        certified = {r["budget"]: r["certified_mean"] for r in mine}
        budgets = sorted(certified)
        panels.line(ax, budgets, [certified[b] for b in budgets], "certified E[R] (lower bound)")
        first = mine[0]
        zero = (first["clean_mean"], _ci(first["clean_std"], first["clean_episodes"]))
        lines: dict[tuple, dict] = {}
        for r in mine:
            if r["budget"] > 0 and r["attacked_mean"] is not None:
                point = (r["attacked_mean"], _ci(r["attacked_std"], r["attacked_episodes"]))
                lines.setdefault(tuple(r[k] for k in line_keys), {"row": r})[r["budget"]] = point
        named = _differing([line["row"] for line in lines.values()], line_keys)
        for line in lines.values() or [{"row": mine[0]}]:
            row = line.pop("row")
            points = {0.0: zero, **line} if 0.0 in certified else line
            if not points:
                continue
            xs = sorted(points)
            panels.line(ax, xs, [points[x][0] for x in xs],
                        "empirical, adaptive PGD" + settings_label(row, named),
                        err=[points[x][1] for x in xs])  # fmt: skip
        panels.reference(ax, first["clean_mean"], "clean")
        ax.set_title(f"{first['policy']} (sigma={first['sigma']:g})" + settings_label(first, titled)
                     + f"\non {_env_of(first['policy'])}", fontsize=9)  # fmt: skip
        ax.set_xlabel("total l2 budget B")
        ax.set_ylabel("episode return")
    attacked = [r["attacked_episodes"] for r in rows if r["budget"] > 0]
    envs = ", ".join(dict.fromkeys(_env_of(r["policy"]) for r in rows))
    return panels.finish(summary(
        f"smoothing certificates on {envs}",
        "clean: " + count_text((r["clean_episodes"] for r in rows), "episode"),
        "attacked: " + count_text(attacked, "episode") + " per budget" if attacked else "",
        seeds_text(seeds),
        f"alpha={rows[0]['alpha']:g} ({rows[0]['method']})",
        "error bars: 95% CI of the mean over episodes",
    ))  # fmt: skip
