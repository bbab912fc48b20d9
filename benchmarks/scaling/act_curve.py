"""Curve (d): ACT time vs population: whole ES generations, every member's victim trained.

One generation of :func:`advrl.attacks.act.trainer.train_act` trains ``population`` fresh
PPO victims in lockstep (``n_updates`` updates of 4 envs x 128 steps each), evaluates them
and takes one ES step, for the fused PPO path (the default) and the autograd one. The timing
comes from ``benchmarks/act_throughput.py``'s ``measure(population, generations, device)``
(the ACT benchmark's own entry point), so both benchmarks measure the same thing; without it
the curve times ``train_act`` itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch as th
from measure import Curve, Timing, timed

from advrl.attacks.act.population import PPOConfig
from advrl.attacks.act.trainer import ACTConfig, train_act

THROUGHPUT = Path(__file__).resolve().parents[1] / "act_throughput.py"


def act_measure():
    """``act_throughput.measure`` if that script defines it, else None."""
    spec = importlib.util.spec_from_file_location("act_throughput", THROUGHPUT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "measure", None)


def generation(population: int, n_updates: int, device: str, impl: str) -> Timing:
    """One ACT generation by ``train_act`` (the fallback when there is no ``measure``)."""
    ppo = PPOConfig(impl=impl) if impl else PPOConfig()
    cfg = ACTConfig(popsize=population, generations=1, n_updates=n_updates, device=device,
                    ppo=ppo)  # fmt: skip
    return timed(lambda: train_act(cfg), population * n_updates * ppo.n_envs * ppo.n_steps)


def act_curve(
    repeats: int, n_updates: int, populations=(8, 16, 32, 64, 128, 256, 512, 1024),
    device: str = "cpu", impls=("fused", "autograd"),
) -> Curve:  # fmt: skip
    """Seconds per generation at each population, for each PPO implementation of the
    population (``fused``, the default, and ``autograd``, the path before issue 15)."""
    measure = act_measure()
    source = "act_throughput.measure" if measure is not None else "train_act"
    curve = Curve(
        "act", f"ACT on CartPole, one generation ({source}), {n_updates} PPO updates x 512 "
        f"victim env steps per member · {device} · median of {repeats}",
        "population", "victim env-steps",
    )  # fmt: skip

    def one(population: int, impl: str) -> Timing:
        if measure is None:
            return generation(population, n_updates, device, impl)
        out = measure(population, 1, device, updates=n_updates, impl=impl)
        t = out["seconds_per_generation"]
        return Timing(t["wall"], t["cpu"], out["victim_env_steps"])

    th.manual_seed(0)
    for impl in impls:  # warm-up (first LAPACK / QR call, imports), not reported
        one(4, impl)
    for _ in range(repeats):  # alternate populations and implementations
        for p in populations:
            for impl in impls:
                curve.add(impl, p, one(p, impl))
    return curve
