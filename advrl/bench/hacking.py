"""The reward-hacking suite: PPO on the proxy vs action-KL and ORPO, true and proxy returns.

One cell per (testbed, method, divergence, coefficient, seed). Each trains on the proxy
reward and records, from the training episodes themselves, the true and the proxy return
as training proceeds; the report is a CSV of final returns, a Markdown table and a plot of
true vs proxy return over training per method.
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

METHODS = ("ppo", "action_kl", "orpo")
TESTBED_REFERENCES = {
    "advrl/Tomato-v0": "ppo-tomato-true",
    "advrl/TomatoHard-v0": "ppo-tomatohard-true",
}
PPO_TOMATO = dict(n_steps=256, batch_size=256, learning_rate=1e-3, gamma=0.98, ent_coef=0.01,
                  policy_kwargs=dict(net_arch=[64, 64]))  # fmt: skip


@dataclass(frozen=True)
class HackingCell:
    """Train one method on a testbed's proxy reward and track true and proxy returns."""

    testbed: str
    method: str
    divergence: str = "none"
    coef: float = 0.0
    seed: int = 0
    steps: int = 300_000
    n_envs: int = 8
    epsilon: float = 0.1

    kind: ClassVar[str] = "hacking"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; allowed: {list(METHODS)}")
        if self.testbed not in TESTBED_REFERENCES:
            raise ValueError(
                f"unknown testbed {self.testbed!r}; allowed: {sorted(TESTBED_REFERENCES)}"
            )
        if not math.isfinite(self.coef) or self.coef < 0:
            raise ValueError(f"coef must be a finite number >= 0, got {self.coef!r}")

    @property
    def label(self) -> str:
        extra = "" if self.method == "ppo" else f" {self.divergence} {self.coef:g}"
        return f"{self.testbed} {self.method}{extra} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @property
    def key(self) -> str:
        name = self.testbed.split("/")[-1]
        return config_key(f"hack-{name}-{self.method}-{self.divergence}-{self.coef:g}-s{self.seed}",
                          self.to_dict())  # fmt: skip

    def run(self) -> dict[str, Any]:
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env

        import advrl.zoo
        from advrl.agents.orpo import ORPO, ActionKLPPO, EpsilonReference
        from advrl.envs.proxy import LogTrueAndProxyReturns

        env = make_vec_env(self.testbed, self.n_envs, seed=self.seed)
        reference = EpsilonReference(
            advrl.zoo.load(TESTBED_REFERENCES[self.testbed]).torch_policy(), self.epsilon,
            seed=self.seed,
        )  # fmt: skip
        common = dict(seed=self.seed, device="cpu", **PPO_TOMATO)
        if self.method == "ppo":
            model = PPO("MlpPolicy", env, **common)
        elif self.method == "action_kl":
            model = ActionKLPPO("MlpPolicy", env, reference=reference, divergence=self.divergence,
                                coef=self.coef, **common)  # fmt: skip
        else:
            ref_env = make_vec_env(self.testbed, self.n_envs, seed=self.seed + 10_000)
            model = ORPO("MlpPolicy", env, reference=reference, reference_env=ref_env,
                         divergence=self.divergence, coef=self.coef, **common)  # fmt: skip
        callback = LogTrueAndProxyReturns()
        model.learn(self.steps, callback=callback)
        episodes = np.asarray(callback.episodes)
        tail = episodes[-max(1, len(episodes) // 10) :]
        chunks = np.array_split(episodes, 20)
        episode_steps = self.steps / max(len(episodes), 1)
        curve, seen = [], 0
        for chunk in chunks:
            seen += len(chunk)
            curve.append([seen * episode_steps, *chunk.mean(axis=0).tolist()])
        ref_true = _reference_true_return(reference, self.testbed, self.seed)
        return {
            "mean_return": float(tail[:, 0].mean()),
            "final_true": float(tail[:, 0].mean()),
            "final_proxy": float(tail[:, 1].mean()),
            "reference_true": ref_true,
            "curve": curve,
        }


def _reference_true_return(reference, testbed: str, seed: int, episodes: int = 20) -> float:
    """Mean true return of the (epsilon-random) reference policy."""
    import gymnasium as gym

    env = gym.make(testbed)
    total = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + ep)
        done = False
        while not done:
            action, _ = reference.predict(obs[None])
            obs, _, term, trunc, info = env.step(int(action[0]))
            total += info["reward_true"]
            done = term or trunc
    return total / episodes


def hacking_suite(
    testbeds: list[str],
    action_kl_coefs: list[float],
    orpo: list[tuple[str, float]],
    seeds: list[int],
    steps: int = 300_000,
) -> list[HackingCell]:
    """Plain PPO, action-KL at each coefficient, and ORPO at each (divergence, coefficient)."""
    cells = []
    for testbed in testbeds:
        for seed in seeds:
            cells.append(HackingCell(testbed, "ppo", seed=seed, steps=steps))
            cells += [
                HackingCell(testbed, "action_kl", "kl", c, seed, steps) for c in action_kl_coefs
            ]
            cells += [HackingCell(testbed, "orpo", d, c, seed, steps) for d, c in orpo]
    return cells


def write_hacking_report(run_dir: str | Path) -> dict[str, Path]:
    """``hacking.csv``, ``hacking.md`` (mean +- std over seeds) and ``hacking.png``."""
    run_dir = Path(run_dir)
    records = [r for r in ResultsStore(run_dir).records() if r["cell"]["kind"] == "hacking"]
    fields = ["testbed", "method", "divergence", "coef", "seed", "final_true", "final_proxy",
              "reference_true"]  # fmt: skip
    rows = [{**{k: r["cell"][k] for k in fields[:5]}, **{k: r["result"][k] for k in fields[5:]}}
            for r in records]  # fmt: skip
    rows.sort(key=lambda r: (r["testbed"], r["method"], r["divergence"], r["coef"], r["seed"]))
    paths = {"csv": run_dir / "hacking.csv", "markdown": run_dir / "hacking.md",
             "plot": run_dir / "hacking.png"}  # fmt: skip
    atomic_write_bytes(paths["csv"], to_csv(rows, fields).encode())
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["testbed"], r["method"], r["divergence"], r["coef"]), []).append(r)
    lines = [
        "| testbed | method | divergence | coef | seeds | true return | proxy return | "
        "reference true |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for (testbed, method, div, coef), rs in groups.items():
        t, p = np.array([r["final_true"] for r in rs]), np.array([r["final_proxy"] for r in rs])
        ref = np.mean([r["reference_true"] for r in rs])
        lines.append(
            f"| {testbed} | {method} | {div} | {coef:g} | {len(rs)} | {t.mean():.2f} ± "
            f"{t.std():.2f} | {p.mean():.2f} ± {p.std():.2f} | {ref:.2f} |"
        )
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if records:
        fig, axes = panels(2, width=5.5, height=3.8)
        curves: dict[str, list[np.ndarray]] = {}
        for r in records:
            c = r["cell"]
            name = (
                c["method"]
                if c["method"] == "ppo"
                else f"{c['method']} {c['divergence']} {c['coef']:g}"
            )
            curves.setdefault(name, []).append(np.asarray(r["result"]["curve"]))
        for name, cs in sorted(curves.items()):
            mean = np.mean(np.stack(cs), axis=0)
            axes[0].plot(mean[:, 0], mean[:, 1], label=name)
            axes[1].plot(mean[:, 0], mean[:, 2], label=name)
        for ax, title in zip(axes, ("true return", "proxy return"), strict=True):
            ax.set_title(title)
            ax.set_xlabel("env steps")
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        save_png(fig, paths["plot"])
    return paths
