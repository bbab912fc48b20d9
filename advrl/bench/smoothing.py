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
from advrl.bench.plotting import panels, save_png
from advrl.bench.report import to_csv
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
    """Per policy and budget: the certified bounds and the empirical attacked return."""
    from advrl.agents.smoothing.certify import certify

    records = ResultsStore(run_dir).records("smoothing")
    clean = {
        (r["cell"]["policy"], r["cell"]["sigma"]): r for r in records if r["cell"]["budget"] == 0
    }
    attacked = {
        (r["cell"]["policy"], r["cell"]["sigma"], r["cell"]["budget"]): r["result"]
        for r in records
        if r["cell"]["budget"] > 0
    }
    rows = []
    for (policy, sigma), rec in sorted(clean.items()):
        returns = np.asarray(rec["result"]["returns"])
        cert = certify(returns, sigma, budgets, alpha=alpha, method=method)
        for i, b in enumerate(cert.budgets):
            hit = attacked.get((policy, sigma, float(b)))
            # At B = 0 the "attack" is the clean run itself.
            empirical = hit["mean_return"] if hit else (cert.clean_mean if b == 0 else None)
            row = {
                "policy": policy, "sigma": sigma, "budget": float(b),
                "per_step_eps": float(b) / math.sqrt(rec["result"]["horizon"]),
                "certified_mean": float(cert.expected[i]),
                "clean_mean": cert.clean_mean, "clean_episodes": cert.n,
                "alpha": alpha, "method": method,
                "attacked_mean": empirical,
                "attacked_episodes": len(hit["returns"]) if hit else None,
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
        _plot(rows, paths["plot"])
    return paths


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    policies = sorted({r["policy"] for r in rows})
    fig, axes = panels(len(policies), width=5.0, height=3.8)
    for ax, policy in zip(axes, policies, strict=True):
        mine = [r for r in rows if r["policy"] == policy]
        b = [r["budget"] for r in mine]
        ax.plot(
            b, [r["certified_mean"] for r in mine], marker="o", label="certified E[R] (lower bound)"
        )
        pts = [(r["budget"], r["attacked_mean"]) for r in mine if r["attacked_mean"] is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="s", label="empirical, adaptive PGD")
        ax.axhline(mine[0]["clean_mean"], color="grey", linestyle="--", linewidth=1, label="clean")
        ax.set_title(f"{policy} (sigma={mine[0]['sigma']:g})")
        ax.set_xlabel("total l2 budget B")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
