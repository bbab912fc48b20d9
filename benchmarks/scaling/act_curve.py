"""Curve (d): ACT time vs population: whole ES generations, every member's victim trained.

One generation of :func:`advrl.attacks.act.trainer.train_act` trains ``population`` fresh
PPO victims in lockstep (``n_updates`` updates of 4 envs x 128 steps each), evaluates them
and takes one ES step. When ``benchmarks/act_throughput.py`` exposes
``measure(population, generations, device)`` (the ACT benchmark's own entry point), the curve
times that instead, so both benchmarks measure the same thing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch as th
from measure import Curve, timed

from advrl.attacks.act.trainer import ACTConfig, train_act

THROUGHPUT = Path(__file__).resolve().parents[1] / "act_throughput.py"


def act_measure():
    """``act_throughput.measure`` if that script defines it, else None."""
    spec = importlib.util.spec_from_file_location("act_throughput", THROUGHPUT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "measure", None)


def generation(population: int, generations: int, n_updates: int, device: str) -> float:
    """Run ``generations`` ACT generations; returns the victim env steps they took."""
    cfg = ACTConfig(popsize=population, generations=generations, n_updates=n_updates,
                    device=device)  # fmt: skip
    train_act(cfg)
    return population * generations * n_updates * cfg.ppo.n_envs * cfg.ppo.n_steps


def act_curve(
    repeats: int, n_updates: int, populations=(8, 16, 32, 64, 128, 256, 512, 1024),
    device: str = "cpu",
) -> Curve:  # fmt: skip
    measure = act_measure()
    source = "act_throughput.measure" if measure is not None else "train_act"
    curve = Curve(
        "act", f"ACT on CartPole, one generation ({source}), {n_updates} PPO updates x 512 "
        f"victim env steps per member · {device} · median of {repeats}",
        "population", "victim env-steps",
    )  # fmt: skip
    th.manual_seed(0)
    generation(4, 1, 1, device)  # warm-up (first LAPACK / QR call), not reported
    for _ in range(repeats):
        for p in populations:
            if measure is not None:
                curve.add("ACT generation", p, timed(lambda p=p: measure(p, 1, device)))
            else:
                curve.add("ACT generation", p,
                          timed(lambda p=p: generation(p, 1, n_updates, device)))  # fmt: skip
    return curve
