"""The cheap-talk suite: how much a message channel helps or harms a PPO victim (ACT).

One cell per (method, seed) on the batched CartPole. ``none`` / ``random`` (i.i.d. messages
each step) / ``random-adversary`` (an untrained random MLP) train fresh victims with that
message source; ``act-anti`` / ``act-pro`` first run ACT (Lu et al., ICML 2023) to get an
adversary, then train fresh victims (new seeds) hearing it; ``act-control`` runs ACT in
test-time-control mode and reports how often its exploiter steers the frozen victims' cart to
a random goal, against random messages on the same victims. Reports: CSV, Markdown table,
PNG of victim learning curves.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key
from advrl.bench.plotting import Panels, curve_band, save_png
from advrl.bench.report import (
    caption,
    count_text,
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
from advrl.bench.store import ResultsStore
from advrl.zoo.checkpoint import atomic_write_bytes

METHODS = ("none", "random", "random-adversary", "act-anti", "act-pro", "act-control")


@dataclass(frozen=True)
class CheapTalkCell:
    """Victims trained with one kind of message source (ACT adversaries are trained first).

    Attributes:
        method: one of ``METHODS``.
        seed: seed of the ACT run and of the evaluation victims.
        popsize: ES population (victims per generation).
        generations: ES generations.
        n_updates: PPO updates per victim (``4 envs x 128 steps`` each).
        victims: fresh victims trained to evaluate the message source.
        sigma, lr: ES noise scale and Adam step.
        ppo_impl: the population PPO's update (``PPOConfig.impl``): ``"fused"`` or
            ``"autograd"``. Same distribution, different random streams, so it is part of
            the cell's key: a store never merges cells computed with the two.
    """

    method: str
    seed: int = 0
    popsize: int = 32
    generations: int = 20
    n_updates: int = 16
    victims: int = 32
    sigma: float = 0.2
    lr: float = 0.05
    ppo_impl: str = "fused"

    kind: ClassVar[str] = "cheap_talk"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; allowed: {list(METHODS)}")
        p = self.popsize
        if isinstance(p, bool) or not isinstance(p, int) or p < 2 or p % 2:
            raise ValueError(f"population must be an even integer >= 2, got {p!r}")
        for name in ("generations", "n_updates", "victims"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        from advrl.attacks.act.population import IMPLS

        if self.ppo_impl not in IMPLS:
            raise ValueError(f"unknown ppo_impl {self.ppo_impl!r}; allowed: {list(IMPLS)}")

    @property
    def label(self) -> str:
        return f"cheap-talk {self.method} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        return config_key(f"cheaptalk-{self.method}-s{self.seed}", self.to_dict())

    def config(self, mode: str = "anti"):
        from advrl.attacks.act.population import PPOConfig
        from advrl.attacks.act.trainer import ACTConfig

        return ACTConfig(
            mode=mode, popsize=self.popsize, generations=self.generations, sigma=self.sigma,
            lr=self.lr, n_updates=self.n_updates, seed=self.seed,
            ppo=PPOConfig(impl=self.ppo_impl),
        )  # fmt: skip

    def run(self) -> dict[str, Any]:
        import torch as th

        from advrl.attacks.act import trainer as act

        start = time.perf_counter()
        mode = self.method.removeprefix("act-") if self.method.startswith("act-") else "anti"
        cfg = self.config(mode)
        out: dict[str, Any] = {}
        if self.method == "none":
            fn = act.no_messages(cfg.dims)
        elif self.method == "random":
            fn = act.random_messages(cfg.dims, cfg.scale, self.seed)
        elif self.method == "random-adversary":
            theta = 0.1 * th.randn(cfg.num_params, generator=th.Generator().manual_seed(self.seed))
            fn = act.adversary_messages(theta, cfg.adversary_sizes, cfg.scale)
        else:
            result = act.train_act(cfg)
            out["act_history"] = result.history
            out["act_seconds"] = sum(h["seconds"] for h in result.history)
            out["act_env_steps"] = (
                self.generations * self.popsize * self.n_updates * cfg.ppo.n_envs
                * cfg.ppo.n_steps
            )  # fmt: skip
            out["theta"] = result.theta.tolist()
            fn = act.adversary_messages(result.adversary, cfg.adversary_sizes, cfg.scale)
        eval_seed = 10_000 + self.seed  # fresh victims, unseen by the ES
        ppo, curves = act.train_victims(fn, self.victims, cfg, eval_seed)
        returns = ppo.evaluate(fn, cfg.eval_envs, seed=eval_seed + 1)
        if self.method == "act-control":
            exploit = act.adversary_messages(result.exploiter, cfg.exploiter_sizes, cfg.scale)
            ctrl = act.control_rollout(ppo, exploit, cfg, eval_seed + 2)
            rand = act.random_messages(cfg.dims, cfg.scale, eval_seed + 3)
            base = act.control_rollout(ppo, rand, cfg, eval_seed + 2)
            # goal-blind baseline: the messages the victims trained with, ignoring the goal;
            # success above it is steering, not just keeping the pole up
            blind = act.control_rollout(ppo, lambda o: fn(o[..., :-1]), cfg, eval_seed + 2)
            out.update(
                control_success=float(ctrl["success"].mean()),
                control_reward=float(ctrl["control_reward"].mean()),
                random_success=float(base["success"].mean()),
                random_control_reward=float(base["control_reward"].mean()),
                goal_blind_success=float(blind["success"].mean()),
                goal_blind_control_reward=float(blind["control_reward"].mean()),
            )
        steps_per_update = cfg.ppo.n_envs * cfg.ppo.n_steps
        return {
            **out,
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std()),
            "returns": returns.tolist(),
            "curve": [
                [(u + 1) * steps_per_update, float(c)] for u, c in enumerate(curves.mean(0))
            ],  # fmt: skip
            "curve_std": [[float(c)] for c in curves.std(0, correction=0)],  # over victims
            "seconds": time.perf_counter() - start,
        }


def cheap_talk_suite(
    methods: list[str], seeds: list[int], popsize: int = 32, generations: int = 20,
    n_updates: int = 16, victims: int = 32,
) -> list[CheapTalkCell]:  # fmt: skip
    """Every (method, seed) cell; baselines first so partial runs already compare."""
    order = {m: i for i, m in enumerate(METHODS)}
    for m in methods:
        if m not in order:
            raise ValueError(f"unknown method {m!r}; allowed: {list(METHODS)}")
    return [
        CheapTalkCell(m, s, popsize, generations, n_updates, victims)
        for m in sorted(set(methods), key=order.__getitem__)
        for s in seeds
    ]


def write_cheap_talk_report(run_dir: str | Path) -> dict[str, Path]:
    """``cheap_talk.csv`` (one row per cell), ``cheap_talk.md`` (mean over seeds) and
    ``cheap_talk.png`` (victim learning curves per method, and the final return of the victims
    ACT trained in each generation). Cells of one method that differ in another setting
    (population, victims, ...) are never averaged together: the setting is shown with them."""
    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("cheap_talk")
    extra = varying_settings((r["cell"] for r in records), shown=("method",), within=("method",))
    cols = ["method", "seed", "popsize", "generations", "victims", "mean_return", "std_return",
            "control_success", "goal_blind_success", "random_success", "control_reward",
            "goal_blind_control_reward", "random_control_reward", "act_seconds",
            "seconds"]  # fmt: skip
    cols[5:5] = [k for k in extra if k not in cols]
    order = {m: i for i, m in enumerate(METHODS)}
    rows = [{k: r["cell"].get(k, r["result"].get(k)) for k in cols} for r in records]
    rows.sort(key=lambda r: (order[r["method"]], *(setting_order(r[k]) for k in extra),
                             r["seed"]))  # fmt: skip
    paths = {"csv": run_dir / "cheap_talk.csv", "markdown": run_dir / "cheap_talk.md",
             "plot": run_dir / "cheap_talk.png"}  # fmt: skip
    atomic_write_bytes(paths["csv"], to_csv(rows, cols).encode())
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], *(setting_key(r[k]) for k in extra)), []).append(r)
    head, align = markdown_columns(extra)
    configs = [r["cell"] for r in records]
    lines = [
        caption(
            "env: the batched CartPole with a message channel",
            *fixed_settings(configs, skip=("method", "seed", *extra)),
            seeds_text(c["seed"] for c in configs),
            f"victim final return: {_eval_episodes()} greedy episodes per victim, mean over "
            "victims, then mean ± std over seeds",
        ),
        "",
        f"| method |{head} seeds | victim final return (mean ± std over seeds) | control "
        "success (exploiter / goal-blind / random messages) | ACT wall s |",
        f"|---|{align}---:|---:|---:|---:|",
    ]
    for (method, *_), rs in groups.items():
        ret = np.array([r["mean_return"] for r in rs])
        ctrl = "" if rs[0]["control_success"] is None else (
            f"{np.mean([r['control_success'] for r in rs]):.2f} / "
            f"{np.mean([r['goal_blind_success'] or 0.0 for r in rs]):.2f} / "
            f"{np.mean([r['random_success'] for r in rs]):.2f}")  # fmt: skip
        act_s = "" if rs[0]["act_seconds"] is None else (
            f"{np.mean([r['act_seconds'] for r in rs]):.0f}")  # fmt: skip
        cells = "".join(f" {setting_text(rs[0][k])} |" for k in extra)
        lines.append(f"| {method} |{cells} {len(rs)} | {ret.mean():.1f} ± {ret.std():.1f} "
                     f"| {ctrl} | {act_s} |")  # fmt: skip
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if records:
        save_png(_figure(records, extra), paths["plot"])
    return paths


def _eval_episodes() -> int:
    from advrl.attacks.act.trainer import ACTConfig

    return ACTConfig().eval_envs  # CheapTalkCell.config keeps ACT's default


def cheap_talk_figure(run_dir: str | Path):
    """The figure :func:`write_cheap_talk_report` saves (None for an empty store)."""
    records = ResultsStore(run_dir).records("cheap_talk")
    if not records:
        return None
    extra = varying_settings((r["cell"] for r in records), shown=("method",), within=("method",))
    return _figure(records, extra)


def _figure(records: list[dict], extra: list[str]):
    """Victim learning curves per method, and the final return of the victims ACT trained in
    each generation: lines are means over seeds, bands ± the std over seeds (a single seed:
    over its victims)."""
    order = {m: i for i, m in enumerate(METHODS)}
    panels = Panels(2, width=5.5)
    curve_ax, es_ax = panels.axes
    lines_of: dict[tuple, list[dict]] = {}
    for r in records:
        c = r["cell"]
        key = (order[c["method"]], c["method"] + settings_label(c, extra))
        lines_of.setdefault(key, []).append(r["result"])
    for (_, label), rs in sorted(lines_of.items()):
        x, mean, err = curve_band([r["curve"] for r in rs], [r.get("curve_std") for r in rs])
        panels.line(curve_ax, x, mean[:, 0], label, err=None if err is None else err[:, 0],
                    band=True)  # fmt: skip
        if "act_history" in rs[0]:
            history = [r["act_history"] for r in rs]
            x, mean, err = curve_band(
                [list(enumerate(h["return_mean"] for h in hs)) for hs in history],
                [[[h["return_std"]] for h in hs] if "return_std" in hs[0] else None
                 for hs in history],
            )  # fmt: skip
            panels.line(es_ax, x, mean[:, 0], label, err=None if err is None else err[:, 0],
                        band=True)  # fmt: skip
    curve_ax.set(title="victim learning curves (training episodes)", xlabel="env steps "
                 "per victim", ylabel="episode return (mean over victims)")  # fmt: skip
    es_ax.set(title="ACT: final return of the ES victims", xlabel="generation",
              ylabel="final return (population mean)")  # fmt: skip
    es_ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in (curve_ax, es_ax):
        ax.title.set_fontsize(9)
    cells = [r["cell"] for r in records]
    return panels.finish(summary(
        "cheap talk on the batched CartPole",
        count_text((c["victims"] for c in cells), "victim") + " per seed, "
        + count_text((c["n_updates"] for c in cells), "PPO update") + " each",
        f"final return: {_eval_episodes()} greedy episodes per victim",
        seeds_text(c["seed"] for c in cells),
        "lines: mean over seeds; band: ± std over seeds (one seed: over its victims)",
    ))  # fmt: skip
