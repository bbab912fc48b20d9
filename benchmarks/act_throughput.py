"""ACT time per generation: the batched victim population vs SB3 PPO one member at a time.

    python benchmarks/act_throughput.py [--populations 8 32 128 256 512 1024]
        [--repeats 5 5 3 2 1 1] [--updates 8] [--sb3-members 3] [--impls fused autograd]

One ACT generation at population P (:func:`advrl.attacks.act.trainer.train_act`) trains P
fresh PPO victims on CartPole-v1, each hearing its own candidate adversary's 2-dim message,
for ``--updates`` updates of 4 envs x 128 steps (4 epochs, minibatch 128, lr 1e-3, 64-64 tanh
actor and critic), scores each by 8 greedy episodes and takes one ES step. The batched path
trains the P victims in lockstep (:class:`advrl.attacks.act.population.PopulationPPO`, each
``--impls``: ``fused`` is the default, ``autograd`` the path before issue 15); the baseline is
the same per-member work with SB3 PPO on ``VecAddCheapTalk(make_vec_env("CartPole-v1", 4))``
(the general path of :mod:`advrl.attacks.act.gym_path`): train, then 8 greedy episodes.

SB3's cost grows linearly in P by construction (members are independent runs), so it is
measured on ``--sb3-members`` members and **extrapolated** to P; it is re-measured next to
every population (alternating with the batched runs, so machine noise hits both alike).
Figures are medians over the repeats, by wall clock and by this process's CPU time (robust
on a shared machine); torch runs single-threaded. The result is written atomically to
OUT/throughput.json. :func:`measure` is the entry point for other scripts (the scaling
curves call it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch as th

from advrl.attacks.act.gym_path import evaluate_sb3_victim, train_sb3_victim
from advrl.attacks.act.population import PPOConfig
from advrl.attacks.act.trainer import ACTConfig, train_act
from advrl.envs.cheap_talk import LearnedMessage
from advrl.zoo.checkpoint import atomic_write_bytes

POPULATIONS = (8, 32, 128, 256, 512, 1024)
REPEATS = (5, 5, 3, 2, 1, 1)


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float], per: float = 1.0) -> dict[str, float]:
    wall, cpu = _clocks()
    return {"wall": (wall - start[0]) / per, "cpu": (cpu - start[1]) / per}


def act_config(population: int, updates: int, device: str, impl: str = "fused", **kw: Any):
    """The benchmark's ACT settings (``ACTConfig`` defaults, ``updates`` PPO updates)."""
    return ACTConfig(popsize=population, n_updates=updates, device=device,
                     ppo=PPOConfig(impl=impl), **kw)  # fmt: skip


def time_batched(
    population: int, generations: int, updates: int, device: str, impl: str, seed: int
) -> dict[str, float]:
    """Seconds per ACT generation of the batched population."""
    cfg = act_config(population, updates, device, impl, generations=generations, seed=seed)
    start = _clocks()
    train_act(cfg)
    return _since(start, generations)


def time_sb3(members: int, updates: int, device: str, seed: int) -> dict[str, float]:
    """Seconds per member of SB3 PPO doing one member's share of a generation: train a
    victim hearing a candidate adversary (``LearnedMessage`` has the batched adversary's
    parameter layout), then the same 8 greedy episodes."""
    cfg = act_config(2, updates, device)
    ppo = cfg.ppo
    gen = th.Generator().manual_seed(seed)
    start = _clocks()
    for p in range(members):
        source = LearnedMessage(4, cfg.dims, cfg.hidden)
        source.set_flat(0.1 * th.randn(cfg.num_params, generator=gen))
        model = train_sb3_victim(
            "CartPole-v1", source, updates * ppo.n_envs * ppo.n_steps, seed=seed * 1000 + p,
            n_envs=ppo.n_envs, scale=cfg.scale, n_steps=ppo.n_steps, batch_size=ppo.batch_size,
            n_epochs=ppo.n_epochs, learning_rate=ppo.learning_rate, gamma=ppo.gamma,
            device=device, policy_kwargs=dict(net_arch=list(ppo.hidden)),
        )  # fmt: skip
        evaluate_sb3_victim(model, episodes=cfg.eval_envs, seed=seed)
    return _since(start, members)


def measure(
    population: int,
    generations: int = 1,
    device: str = "cpu",
    *,
    updates: int = 8,
    impl: str = "fused",
    sb3_members: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Time ``generations`` ACT generations at ``population`` and, when ``sb3_members > 0``,
    SB3 one member at a time (measured on that many members, extrapolated to the population).

    Returns:
        ``population``, ``generations``, ``updates``, ``device``, ``impl``;
        ``victim_env_steps``: training env steps of all victims in the timed generations;
        ``seconds_per_generation`` and ``env_steps_per_s``: ``{"wall", "cpu"}``; with a
        baseline also ``sb3_members``, ``sb3_seconds_per_member``,
        ``sb3_seconds_per_generation`` (= population x per member, ``sb3_extrapolated``
        when fewer members were measured) and ``ratio`` (SB3 time / batched time).
    """
    batched = time_batched(population, generations, updates, device, impl, seed)
    steps_per_member = updates * PPOConfig().n_envs * PPOConfig().n_steps
    out: dict[str, Any] = {
        "population": population, "generations": generations, "updates": updates,
        "device": str(device), "impl": impl,
        "victim_env_steps": population * generations * steps_per_member,
        "seconds_per_generation": batched,
        "env_steps_per_s": {k: population * steps_per_member / v for k, v in batched.items()},
    }  # fmt: skip
    if sb3_members > 0:
        member = time_sb3(sb3_members, updates, device, seed)
        out.update(
            sb3_members=sb3_members,
            sb3_seconds_per_member=member,
            sb3_seconds_per_generation={k: population * v for k, v in member.items()},
            sb3_extrapolated=sb3_members < population,
            ratio={k: population * member[k] / batched[k] for k in batched},
        )
    return out


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def benchmark(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every population, alternating the batched paths with the SB3 baseline per repeat."""
    # warm-up, not timed: imports, torch's first QR / LAPACK call, SB3's first model
    for impl in args.impls:
        time_batched(2, 1, 1, args.device, impl, seed=99)
    time_sb3(1, 1, args.device, seed=99)
    steps_per_member = args.updates * PPOConfig().n_envs * PPOConfig().n_steps
    rows = []
    for population, repeats in zip(args.populations, args.repeats, strict=True):
        runs: dict[str, list] = {impl: [] for impl in [*args.impls, "sb3"]}
        for repeat in range(repeats):
            for impl in args.impls:
                runs[impl].append(time_batched(population, 1, args.updates, args.device, impl,
                                               seed=repeat))  # fmt: skip
            runs["sb3"].append(time_sb3(args.sb3_members, args.updates, args.device, repeat))
        sb3 = {k: population * v for k, v in _median(runs["sb3"]).items()}
        row = {"population": population, "repeats": repeats,
               "sb3_seconds_per_generation": sb3, "sb3_runs_per_member": runs["sb3"]}  # fmt: skip
        for impl in args.impls:
            t = _median(runs[impl])
            row[impl] = {
                "seconds_per_generation": t, "runs": runs[impl],
                "env_steps_per_s": {k: population * steps_per_member / v for k, v in t.items()},
                "ratio": {k: sb3[k] / t[k] for k in t},
            }  # fmt: skip
        rows.append(row)
        print(
            f"P={population:5d}: SB3 {sb3['cpu']:8.1f} s CPU/generation (extrapolated from "
            f"{args.sb3_members} members); "
            + "; ".join(
                f"{impl} {row[impl]['seconds_per_generation']['cpu']:7.2f} s = "
                f"{row[impl]['ratio']['cpu']:5.1f}x CPU / {row[impl]['ratio']['wall']:5.1f}x wall"
                for impl in args.impls
            ),
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--populations", type=int, nargs="+", default=list(POPULATIONS))
    parser.add_argument("--repeats", type=int, nargs="+", default=list(REPEATS),
                        help="timings per population (median): one value for all, or one "
                        "per population")  # fmt: skip
    parser.add_argument("--updates", type=int, default=8, help="PPO updates per victim")
    parser.add_argument("--sb3-members", type=int, default=3, help="members timed with SB3")
    parser.add_argument("--impls", nargs="+", default=["fused", "autograd"],
                        choices=["fused", "autograd"], help="batched paths to time")  # fmt: skip
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/act_throughput"))
    args = parser.parse_args()
    if len(args.repeats) == 1:
        args.repeats = args.repeats * len(args.populations)
    if len(args.repeats) != len(args.populations):
        parser.error(f"--repeats: one value or one per population ({len(args.populations)}), "
                     f"got {len(args.repeats)}")  # fmt: skip
    th.set_num_threads(1)
    start = _clocks()
    rows = benchmark(args)
    result = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "torch_threads": th.get_num_threads(), "total_seconds": _since(start), "rows": rows,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "throughput.json", (json.dumps(result, indent=1) + "\n").encode())
    print(f"total {result['total_seconds']['wall']:.0f} s wall; {args.out / 'throughput.json'}")


if __name__ == "__main__":
    main()
