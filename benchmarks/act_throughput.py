"""ACT victim-training throughput: the batched population vs SB3 PPO one member at a time.

    python benchmarks/act_throughput.py [--members 32] [--updates 8] [--sb3-members 2]

Both train PPO victims on CartPole-v1 with a learned cheap-talk adversary's 2-dim message in
the observation and the same settings (4 envs x 128 steps per update, 4 epochs, minibatch
128, lr 1e-3, 64-64 tanh actor and critic). The batched path trains ``--members`` victims in
lockstep (:class:`advrl.attacks.act.population.PopulationPPO` on the torch
``BatchedCartPole``); the baseline trains ``--sb3-members`` of them one by one with SB3 PPO on
``VecAddCheapTalk(make_vec_env("CartPole-v1", 4))`` (gymnasium CartPole), the general path of
``advrl.attacks.act.gym_path``. Reports victim env steps/s of each and their ratio, measured in
the same run (alternating repeats, medians), by wall clock and by this process's CPU time
(robust on a shared machine); the result is written atomically to OUT/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole
from advrl.attacks.act.gym_path import train_sb3_victim
from advrl.attacks.act.population import PopulationPPO, PPOConfig
from advrl.attacks.act.trainer import ACTConfig, adversary_messages
from advrl.envs.cheap_talk import LearnedMessage
from advrl.zoo.checkpoint import atomic_write_bytes


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clocks()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}


def time_batched(args, cfg: ACTConfig, thetas: th.Tensor, seed: int) -> dict[str, float]:
    """Every member's victim trained in lockstep, adversary p talking to victim p."""
    start = _clocks()
    ppo = PopulationPPO(args.members, 6, 2, cfg.ppo, seed=seed, device=args.device)
    env = BatchedCartPole(args.members * cfg.ppo.n_envs, seed=seed, device=args.device)
    fn = adversary_messages(thetas[: args.members], cfg.adversary_sizes, cfg.scale)
    ppo.learn(env, args.updates, fn)
    return _since(start)


def time_sb3(args, cfg: ACTConfig, thetas: th.Tensor, seed: int) -> dict[str, float]:
    """The first ``--sb3-members`` members one at a time with SB3 PPO (same adversaries:
    LearnedMessage has the batched adversary's parameter layout)."""
    ppo_cfg = cfg.ppo
    start = _clocks()
    for p in range(args.sb3_members):
        source = LearnedMessage(4, cfg.dims, cfg.hidden)
        source.set_flat(thetas[p])
        train_sb3_victim(
            "CartPole-v1", source, args.updates * ppo_cfg.n_envs * ppo_cfg.n_steps,
            seed=seed * 1000 + p, n_envs=ppo_cfg.n_envs, n_steps=ppo_cfg.n_steps,
            batch_size=ppo_cfg.batch_size, n_epochs=ppo_cfg.n_epochs,
            learning_rate=ppo_cfg.learning_rate, gamma=ppo_cfg.gamma, device=args.device,
            policy_kwargs=dict(net_arch=list(ppo_cfg.hidden)),
        )  # fmt: skip
    return _since(start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=32, help="batched population size")
    parser.add_argument("--updates", type=int, default=8, help="PPO updates per victim")
    parser.add_argument("--sb3-members", type=int, default=2, help="members trained by SB3")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timings (median)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/act_throughput"))
    args = parser.parse_args()
    th.set_num_threads(1)
    ppo_cfg = PPOConfig()
    cfg = ACTConfig(ppo=ppo_cfg)
    steps_per_member = args.updates * ppo_cfg.n_envs * ppo_cfg.n_steps
    gen = th.Generator().manual_seed(0)
    thetas = 0.1 * th.randn(args.members, cfg.num_params, generator=gen)

    # Warm-up (not timed): one-time costs such as torch's first QR / LAPACK load and imports.
    warm = argparse.Namespace(**{**vars(args), "members": 2, "sb3_members": 1, "updates": 1})
    time_batched(warm, cfg, thetas, seed=99)
    time_sb3(warm, cfg, thetas, seed=99)
    batched, sb3 = [], []
    for repeat in range(args.repeats):  # alternate, so machine noise hits both alike
        batched.append(time_batched(args, cfg, thetas, seed=repeat))
        sb3.append(time_sb3(args, cfg, thetas, seed=repeat))
    batched_steps = args.members * steps_per_member
    sb3_steps = args.sb3_members * steps_per_member
    rate = {
        (side, clock): steps / statistics.median(t[clock] for t in times)
        for side, steps, times in (("batched", batched_steps, batched), ("sb3", sb3_steps, sb3))
        for clock in ("wall", "cpu")
    }
    result = {
        "members": args.members, "sb3_members": args.sb3_members, "updates": args.updates,
        "repeats": args.repeats, "steps_per_member": steps_per_member, "device": args.device,
        "batched_times": batched, "sb3_times": sb3,
        **{f"{side}_steps_per_s_{clock}": r for (side, clock), r in rate.items()},
        "ratio_wall": rate["batched", "wall"] / rate["sb3", "wall"],
        "ratio_cpu": rate["batched", "cpu"] / rate["sb3", "cpu"],
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "throughput.json", (json.dumps(result, indent=1) + "\n").encode())
    for clock in ("wall", "cpu"):
        print(
            f"[{clock} clock] batched population ({args.members} victims): "
            f"{rate['batched', clock]:,.0f} env steps/s; SB3 one by one ({args.sb3_members} "
            f"victims): {rate['sb3', clock]:,.0f} env steps/s; ratio "
            f"{result[f'ratio_{clock}']:.1f}x"
        )


if __name__ == "__main__":
    main()
