"""The reward-hacking suite: PPO on the proxy vs action-KL and ORPO, true and proxy returns.

One cell per (testbed, method, divergence, coefficient, seed). Each trains on the proxy
reward and records, from the training episodes themselves, the true and the proxy return
as training proceeds; the report is a CSV of final returns, a Markdown table and a plot of
true vs proxy return over training per method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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

METHODS = ("ppo", "action_kl", "orpo")


@dataclass(frozen=True)
class Testbed:
    """What a hacking cell needs to know about a testbed.

    Attributes:
        reference: zoo name of the safe policy (PPO on the true reward).
        discrete: discrete actions (tomato) or continuous (MuJoCo). The closed-form
            action-KL needs a categorical or Gaussian reference, so on continuous testbeds it
            uses the reference with ``epsilon = 0`` (an epsilon-mixture is not Gaussian).
        ppo: the PPO settings: ``"tomato"`` or ``"mujoco"`` (the zoo's MuJoCo preset, on raw
            observations so the discriminator and the reference see what the env emits).
        reference_episodes: episodes used to measure the reference's true return.
    """

    reference: str
    discrete: bool
    ppo: str
    reference_episodes: int = 20


TESTBEDS = {
    "advrl/Tomato-v0": Testbed("ppo-tomato-true", True, "tomato"),
    "advrl/TomatoHard-v0": Testbed("ppo-tomatohard-true", True, "tomato"),
    "advrl/HalfCheetahUpright-v0": Testbed("ppo-halfcheetahupright-true", False, "mujoco", 5),
    "advrl/HopperLunge-v0": Testbed("ppo-hopperlunge-true", False, "mujoco", 10),
    "advrl/ReacherX-v0": Testbed("ppo-reacherx-true", False, "mujoco", 20),
}
PPO_TOMATO = dict(n_steps=256, batch_size=256, learning_rate=1e-3, gamma=0.98, ent_coef=0.01,
                  policy_kwargs=dict(net_arch=[64, 64]))  # fmt: skip


def _ppo_settings(testbed: Testbed) -> dict[str, Any]:
    if testbed.ppo == "tomato":
        return PPO_TOMATO
    from advrl.zoo.train import PPO_MUJOCO

    return PPO_MUJOCO


@dataclass(frozen=True)
class HackingCell:
    """Train one method on a testbed's proxy reward and track true and proxy returns.

    ``epsilon`` is the reference policy's random-action rate (0.1 as in the paper);
    ``reward_clip`` clips ORPO's penalty term to ``[-reward_clip, reward_clip]``.

    ``convention`` records the regulariser conventions the cell ran with: ``"reference"``
    (the authors' code: horizon-scaled action-KL coefficient with a KL fallback, ORPO's clip
    on the penalty only). Cells whose behaviour predates the field and did not change (PPO,
    unclipped ORPO) leave it out of their key, so their old runs still resume; action-KL and
    clipped-ORPO cells stored before it (advrl 0.1: unscaled coefficient, total reward
    clipped) have other keys and are reported as ``"advrl-0.1"``.
    """

    testbed: str
    method: str
    divergence: str = "none"
    coef: float = 0.0
    seed: int = 0
    steps: int = 300_000
    n_envs: int = 8
    epsilon: float = 0.1
    reward_clip: float | None = None
    convention: str = "reference"

    kind: ClassVar[str] = "hacking"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; allowed: {list(METHODS)}")
        if self.testbed not in TESTBEDS:
            raise ValueError(f"unknown testbed {self.testbed!r}; allowed: {sorted(TESTBEDS)}")
        if not math.isfinite(self.coef) or self.coef < 0:
            raise ValueError(f"coef must be a finite number >= 0, got {self.coef!r}")
        if self.reward_clip is not None:
            if self.method != "orpo":
                raise ValueError(f"reward_clip applies to ORPO only, not {self.method!r}")
            if not math.isfinite(self.reward_clip) or self.reward_clip <= 0:
                raise ValueError(f"reward_clip must be a number > 0, got {self.reward_clip!r}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon!r}")
        if self.convention != "reference":
            raise ValueError(
                f"convention must be 'reference' (the only one advrl runs), got "
                f"{self.convention!r}"
            )
        if self.method == "action_kl" and not TESTBEDS[self.testbed].discrete and self.epsilon:
            raise ValueError(
                f"action-KL on the continuous testbed {self.testbed!r} needs epsilon = 0 (a "
                f"Gaussian reference has a closed-form KL; an epsilon-mixture does not), got "
                f"{self.epsilon!r}"
            )

    @property
    def label(self) -> str:
        extra = "" if self.method == "ppo" else f" {self.divergence} {self.coef:g}"
        return f"{self.testbed} {self.method}{extra} eps{self.epsilon:g} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        config = {"kind": self.kind, **asdict(self)}
        if self.reward_clip is None:  # keeps the keys of runs stored before the field existed
            del config["reward_clip"]
        if not self.convention_matters:
            del config["convention"]
        return config

    @property
    def convention_matters(self) -> bool:
        """Whether the fixed conventions change this cell's training (action-KL, or ORPO
        with a reward clip)."""
        return self.method == "action_kl" or self.reward_clip is not None

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

        testbed = TESTBEDS[self.testbed]
        env = make_vec_env(self.testbed, self.n_envs, seed=self.seed)
        ref_policy = advrl.zoo.load(testbed.reference).torch_policy()
        reference = EpsilonReference(ref_policy, self.epsilon, seed=self.seed)
        common = dict(seed=self.seed, device="cpu", **_ppo_settings(testbed))
        if self.method == "ppo":
            model = PPO("MlpPolicy", env, **common)
        elif self.method == "action_kl":
            # Categorical: the epsilon-mixture's log-probs; Gaussian: the policy itself.
            kl_ref = reference if testbed.discrete else ref_policy
            model = ActionKLPPO("MlpPolicy", env, reference=kl_ref, divergence=self.divergence,
                                coef=self.coef, **common)  # fmt: skip
        else:
            ref_env = make_vec_env(self.testbed, self.n_envs, seed=self.seed + 10_000)
            model = ORPO("MlpPolicy", env, reference=reference, reference_env=ref_env,
                         divergence=self.divergence, coef=self.coef, reward_clip=self.reward_clip,
                         **common)  # fmt: skip
        callback = LogTrueAndProxyReturns()
        model.learn(self.steps, callback=callback)
        episodes = np.asarray(callback.episodes)
        if len(episodes) == 0:
            horizon = getattr(env.get_attr("spec", [0])[0], "max_episode_steps", None)
            limit = f" (episodes last up to {horizon} steps)" if horizon else ""
            raise ValueError(
                f"{self.label}: {self.steps} training steps ({self.steps // self.n_envs} per env "
                f"on {self.n_envs} envs) finished no episode{limit}; give more steps (--steps)"
            )
        tail = episodes[-max(1, len(episodes) // 10) :]
        chunks = np.array_split(episodes, 20)
        episode_steps = self.steps / max(len(episodes), 1)
        curve, spread, seen = [], [], 0
        for chunk in chunks:
            seen += len(chunk)
            curve.append([seen * episode_steps, *chunk.mean(axis=0).tolist()])
            spread.append(chunk.std(axis=0).tolist())  # over the episodes behind the point
        # A fresh copy: ORPO's reference rollouts have advanced the training copy's generator.
        ref_true = _reference_true_return(
            EpsilonReference(ref_policy, self.epsilon, seed=self.seed), self.testbed, self.seed,
            testbed.reference_episodes,
        )  # fmt: skip
        return {
            "mean_return": float(tail[:, 0].mean()),
            "episodes": len(episodes),
            "final_true": float(tail[:, 0].mean()),
            "final_proxy": float(tail[:, 1].mean()),
            "reference_true": ref_true,
            "curve": curve,
            "curve_std": spread,
        }


def _reference_true_return(reference, testbed: str, seed: int, episodes: int = 20) -> float:
    """Mean true return of the (epsilon-random) reference policy."""
    import gymnasium as gym

    env = gym.make(testbed)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    total = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + ep)
        done = False
        while not done:
            action, _ = reference.predict(obs[None])
            obs, _, term, trunc, info = env.step(int(action[0]) if discrete else action[0])
            total += info["reward_true"]
            done = term or trunc
    return total / episodes


def hacking_suite(
    testbeds: list[str],
    action_kl_coefs: list[float],
    orpo: list[tuple[str, float]],
    seeds: list[int],
    steps: int = 300_000,
    orpo_epsilons: Sequence[float] = (0.1,),
    orpo_reward_clip: float | None = None,
) -> list[HackingCell]:
    """Plain PPO, action-KL at each coefficient, and ORPO at each (divergence, coefficient)
    and reference epsilon. ORPO at ``epsilon = 0`` on a continuous testbed regularises
    towards the same reference as action-KL there: the matched comparison."""
    cells = []
    for testbed in testbeds:
        if testbed not in TESTBEDS:
            raise ValueError(f"unknown testbed {testbed!r}; allowed: {sorted(TESTBEDS)}")
        kl_epsilon = 0.1 if TESTBEDS[testbed].discrete else 0.0
        for seed in seeds:
            cells.append(HackingCell(testbed, "ppo", seed=seed, steps=steps))
            cells += [
                HackingCell(testbed, "action_kl", "kl", c, seed, steps, epsilon=kl_epsilon)
                for c in action_kl_coefs
            ]
            cells += [
                HackingCell(testbed, "orpo", d, c, seed, steps, epsilon=e,
                            reward_clip=orpo_reward_clip)  # fmt: skip
                for e in orpo_epsilons
                for d, c in orpo
            ]
    return cells


def _stored_convention(cell: dict[str, Any]) -> str:
    """The conventions a stored cell ran with (records from before the field: advrl 0.1)."""
    if "convention" in cell:
        return cell["convention"]
    changed = cell["method"] == "action_kl" or cell.get("reward_clip") is not None
    return "advrl-0.1" if changed else "reference"


def _method_name(cell: dict[str, Any]) -> str:
    if cell["method"] == "ppo":
        return "ppo"
    clip = f", clip {cell['reward_clip']:g}" if cell.get("reward_clip") else ""
    old = ", advrl-0.1" if _stored_convention(cell) != "reference" else ""
    return (
        f"{cell['method']} {cell['divergence']} {cell['coef']:g} "
        f"(ref eps {cell['epsilon']:g}{clip}{old})"
    )


CELL_FIELDS = ("testbed", "method", "divergence", "coef", "epsilon", "reward_clip",
               "convention", "seed")  # fmt: skip
"""Cell fields the hacking table shows as columns (seeds as a count)."""


def _cells(records: list[dict]) -> tuple[list[dict], list[str]]:
    """The stored cells as the report reads them, and the settings beyond
    :data:`CELL_FIELDS` that differ between them (steps, n_envs): columns and groups too."""
    # Older stores lack epsilon (it was 0.1); reward_clip 0 in the report means "no clip".
    cells = [{"epsilon": 0.1, **r["cell"], "reward_clip": r["cell"].get("reward_clip") or 0.0,
              "convention": _stored_convention(r["cell"])} for r in records]  # fmt: skip
    return cells, varying_settings(cells, shown=CELL_FIELDS)


def write_hacking_report(run_dir: str | Path) -> dict[str, Path]:
    """``hacking.csv``, ``hacking.md`` (mean +- std over seeds) and ``hacking.png`` (true and
    proxy return over training, one pair of panels per testbed)."""
    run_dir = Path(run_dir)
    records = ResultsStore(run_dir).records("hacking")
    cell_fields = list(CELL_FIELDS)
    result_fields = ["final_true", "final_proxy", "reference_true"]
    cells, extra = _cells(records)
    fields = [*cell_fields[:-1], *extra, "seed"]
    rows = [{**{k: cell.get(k) for k in fields}, **{k: r["result"][k] for k in result_fields}}
            for cell, r in zip(cells, records, strict=True)]  # fmt: skip
    rows.sort(key=lambda r: tuple(setting_order(r[k]) if k in extra else r[k] for k in fields))
    paths = {"csv": run_dir / "hacking.csv", "markdown": run_dir / "hacking.md",
             "plot": run_dir / "hacking.png"}  # fmt: skip
    atomic_write_bytes(paths["csv"], to_csv(rows, fields + result_fields).encode())
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(setting_key(r[k]) for k in fields[:-1]), []).append(r)
    head, align = markdown_columns(extra)
    lines = [
        caption(
            *fixed_settings(cells, skip=fields),
            seeds_text(c["seed"] for c in cells),
            "returns: mean ± std over seeds of each run's last 10% of training episodes; "
            "reference true: the reference policy's mean true return",
        ),
        "",
        f"| testbed | method | divergence | coef | ref eps | reward clip | convention |{head} "
        "seeds | true return | proxy return | reference true |",
        f"|---|---|---|---:|---:|---:|---|{align}---:|---:|---:|---:|",
    ]
    for rs in groups.values():
        testbed, method, div, coef, eps, clip, convention = (rs[0][k] for k in cell_fields[:-1])
        settings = "".join(f" {setting_text(rs[0][k])} |" for k in extra)
        t, p = np.array([r["final_true"] for r in rs]), np.array([r["final_proxy"] for r in rs])
        ref = np.mean([r["reference_true"] for r in rs])
        lines.append(
            f"| {testbed} | {method} | {div} | {coef:g} | {eps:g} | {clip or '-'} | {convention} "
            f"|{settings} {len(rs)} "
            f"| {t.mean():.2f} ± "
            f"{t.std():.2f} | {p.mean():.2f} ± {p.std():.2f} | {ref:.2f} |"
        )
    atomic_write_bytes(paths["markdown"], ("\n".join(lines) + "\n").encode())
    if records:
        save_png(_figure(cells, records, extra), paths["plot"])
    return paths


def hacking_figure(run_dir: str | Path):
    """The figure :func:`write_hacking_report` saves (None for an empty store)."""
    records = ResultsStore(run_dir).records("hacking")
    if not records:
        return None
    cells, extra = _cells(records)
    return _figure(cells, records, extra)


def _figure(cells: list[dict], records: list[dict], extra: list[str]):
    """Per testbed, true and proxy return of the training episodes over env steps: a line per
    method (mean over seeds) with a band of ± the std over seeds (one seed: over the episodes
    behind each point), and the reference policy's true return as a dashed level."""
    testbeds = sorted({c["testbed"] for c in cells})
    panels = Panels(2 * len(testbeds), width=5.0, height=3.8)
    for t, testbed in enumerate(testbeds):
        curves: dict[str, list[dict]] = {}
        references = []
        for cell, r in zip(cells, records, strict=True):
            if cell["testbed"] == testbed:
                name = _method_name(cell) + settings_label(cell, extra)
                curves.setdefault(name, []).append(r["result"])
                references.append(r["result"]["reference_true"])
        true_ax, proxy_ax = panels.axes[2 * t], panels.axes[2 * t + 1]
        for name, rs in sorted(curves.items()):
            x, mean, err = curve_band([r["curve"] for r in rs], [r.get("curve_std") for r in rs])
            for col, ax in enumerate((true_ax, proxy_ax)):
                panels.line(ax, x, mean[:, col], name, err=None if err is None else err[:, col],
                            band=True)  # fmt: skip
        panels.reference(true_ax, float(np.mean(references)), "reference policy")
        short = testbed.split("/")[-1]
        for ax, what in ((true_ax, "true"), (proxy_ax, "proxy")):
            ax.set_title(f"{short}: {what} return", fontsize=9)
            ax.set_xlabel("env steps")
            ax.set_ylabel(f"{what} return per training episode")
    episodes = [r["result"]["episodes"] for r in records if "episodes" in r["result"]]
    return panels.finish(summary(
        "reward hacking on " + ", ".join(t.split("/")[-1] for t in testbeds),
        count_text((c["steps"] for c in cells), "env step") + " per run",
        count_text(episodes, "training episode") + " per run" if episodes else "",
        seeds_text(c["seed"] for c in cells),
        "lines: mean over seeds; band: ± std over seeds (one seed: over each point's episodes)",
    ))  # fmt: skip
