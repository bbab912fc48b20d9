"""Curves (a) and (b): attack cost in the real evaluation stack vs n_envs and vs PGD steps.

The stack is that of ``benchmarks/attack_cost.py`` and ``advrl.attacks.evaluate``:
``VecNormalize`` (frozen zoo statistics) over ``VecPerturbObservation`` over ``DummyVecEnv``,
the victim acting through SB3 ``predict``. Every attack is one batched call per vector step.
"""

from __future__ import annotations

import statistics

from measure import Curve, Timing, timed
from stable_baselines3.common.vec_env import DummyVecEnv

import advrl.zoo
from advrl.attacks import FGSM, PGD, VecPerturbObservation
from advrl.zoo import frozen_vec_normalize

POLICY = "ppo-halfcheetah"
EPS = 0.15  # the standard HalfCheetah budget, in the victim's normalised space


def evaluation_steps(victim, attack, n_envs: int, vec_steps: int) -> Timing:
    """Env steps through the evaluation stack (``attack`` None: the clean stack)."""
    venv = DummyVecEnv(victim.env_fns(n_envs))
    if attack is not None:
        venv = VecPerturbObservation(venv, attack, victim.torch_policy(), seed=0)
    venv = frozen_vec_normalize(venv, victim.obs_stats)
    venv.seed(0)
    obs = venv.reset()

    def run() -> float:
        nonlocal obs
        for _ in range(vec_steps):
            actions, _ = victim.model.predict(obs, deterministic=True)
            obs, *_ = venv.step(actions)
        return vec_steps * n_envs

    timing = timed(run)
    venv.close()
    return timing


def vec_steps_for(n_envs: int, env_steps: int) -> int:
    """Vector steps doing about ``env_steps`` env steps, at least 8 (so that 64 envs still
    make several batched attack calls)."""
    return max(8, env_steps // n_envs)


def n_envs_curve(repeats: int, env_steps: int, n_envs=(1, 2, 4, 8, 16, 32, 64)) -> Curve:
    """(a) env-steps/s of clean, FGSM and PGD-10 evaluation at each n_envs."""
    victim = advrl.zoo.load(POLICY)
    configs = {"clean": None, "FGSM": FGSM(EPS), "PGD-10": PGD(EPS, steps=10)}
    curve = Curve(
        "n_envs", f"{POLICY} (HalfCheetah-v5), eval stack, eps {EPS} linf · "
        f"~{env_steps} env steps per point · median of {repeats}", "n_envs", "env-steps",
    )  # fmt: skip
    for attack in configs.values():  # warm-up (torch kernels, MuJoCo), not reported
        evaluation_steps(victim, attack, 4, 8)
    for _ in range(repeats):  # alternate, so machine noise hits every point alike
        for n in n_envs:
            vec_steps = vec_steps_for(n, env_steps)
            for label, attack in configs.items():
                curve.add(label, n, evaluation_steps(victim, attack, n, vec_steps))
    _ratio_notes(curve, "clean")
    return curve


def attack_steps_curve(
    repeats: int, env_steps: int, n_envs: int = 16, steps=(1, 3, 10, 30, 100)
) -> Curve:
    """(b) env-steps/s of PGD-k evaluation at a fixed n_envs, for each k."""
    victim = advrl.zoo.load(POLICY)
    curve = Curve(
        "attack_steps", f"{POLICY} (HalfCheetah-v5), eval stack, PGD eps {EPS} linf, "
        f"{n_envs} envs · ~{env_steps} env steps per point · median of {repeats}",
        "PGD steps", "env-steps",
    )  # fmt: skip
    evaluation_steps(victim, PGD(EPS, steps=3), n_envs, 4)  # warm-up
    vec_steps = vec_steps_for(n_envs, env_steps)
    clean = []
    for _ in range(repeats):
        clean.append(evaluation_steps(victim, None, n_envs, vec_steps))
        for k in steps:
            curve.add("PGD", k, evaluation_steps(victim, PGD(EPS, steps=k), n_envs, vec_steps))
    level = {c: statistics.median(t.rate(c) for t in clean) for c in curve.clocks}
    curve.references[f"clean, {n_envs} envs"] = level
    curve.notes.append(f"clean stack at {n_envs} envs, same run: {level['cpu']:,.0f} env-steps/s "
                       "(CPU)")  # fmt: skip
    _per_step_note(curve, n_envs)
    return curve


def _ratio_notes(curve: Curve, base: str) -> None:
    """Each attack's median throughput as a fraction of the clean stack's, per n_envs."""
    xs, clean = curve.medians(base, "cpu")
    for label in curve.series:
        if label != base:
            _, rates = curve.medians(label, "cpu")
            pairs = zip(xs, rates, clean, strict=True)
            shown = ", ".join(f"{int(x)}: {r / c:.2f}" for x, r, c in pairs)
            curve.notes.append(f"{label} / clean (CPU), by n_envs: {shown}")


def _per_step_note(curve: Curve, n_envs: int) -> None:
    """Milliseconds per vector step = a + b * k fitted over the PGD step counts k."""
    import numpy as np

    xs, rates = curve.medians("PGD", "cpu")
    ms = [1000 * n_envs / r for r in rates]
    b, a = np.polyfit(xs, ms, 1)
    curve.notes.append(
        f"ms per vector step ({n_envs} envs, CPU): "
        + ", ".join(f"k={int(x)}: {m:.2f}" for x, m in zip(xs, ms, strict=True))
        + f"; linear fit {a:.2f} + {b:.3f} * k"
    )
