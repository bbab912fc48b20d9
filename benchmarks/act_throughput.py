"""ACT victim-training throughput: the batched population vs SB3 PPO one member at a time.

    python benchmarks/act_throughput.py [--members 32] [--updates 8] [--sb3-members 2]

Both train PPO victims on CartPole-v1 with a learned cheap-talk adversary's 2-dim message in
the observation and the same settings (4 envs x 128 steps per update, 4 epochs, minibatch
128, lr 1e-3, 64-64 tanh actor and critic). The batched path trains ``--members`` victims in
lockstep (:class:`advrl.attacks.act.population.PopulationPPO` on the torch
``BatchedCartPole``); the baseline trains ``--sb3-members`` of them one by one with SB3 PPO on
``VecAddCheapTalk(make_vec_env("CartPole-v1", 4))`` (gymnasium CartPole), the general path of
``advrl.attacks.act.gym_path``. Reports victim env steps/s of each and their ratio, measured in
the same run; the result is written atomically to OUT/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole
from advrl.attacks.act.gym_path import train_sb3_victim
from advrl.attacks.act.population import PopulationPPO, PPOConfig
from advrl.attacks.act.trainer import ACTConfig, adversary_messages
from advrl.envs.cheap_talk import LearnedMessage
from advrl.zoo.checkpoint import atomic_write_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=32, help="batched population size")
    parser.add_argument("--updates", type=int, default=8, help="PPO updates per victim")
    parser.add_argument("--sb3-members", type=int, default=2, help="members trained by SB3")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/act_throughput"))
    args = parser.parse_args()
    th.set_num_threads(1)
    ppo_cfg = PPOConfig()
    cfg = ACTConfig(ppo=ppo_cfg)
    steps_per_member = args.updates * ppo_cfg.n_envs * ppo_cfg.n_steps
    gen = th.Generator().manual_seed(0)
    thetas = 0.1 * th.randn(args.members, cfg.num_params, generator=gen)

    # Batched: every member's victim trained in lockstep, adversary p talking to victim p.
    start = time.perf_counter()
    ppo = PopulationPPO(args.members, 6, 2, ppo_cfg, seed=0, device=args.device)
    env = BatchedCartPole(args.members * ppo_cfg.n_envs, seed=0, device="cpu")
    ppo.learn(env, args.updates, adversary_messages(thetas, cfg.adversary_sizes, cfg.scale))
    batched_s = time.perf_counter() - start
    batched_rate = args.members * steps_per_member / batched_s

    # SB3, one member at a time, the same adversaries (LearnedMessage has the same layout).
    start = time.perf_counter()
    for p in range(args.sb3_members):
        source = LearnedMessage(4, cfg.dims, cfg.hidden)
        source.set_flat(thetas[p])
        train_sb3_victim(
            "CartPole-v1", source, steps_per_member, seed=p, n_envs=ppo_cfg.n_envs,
            n_steps=ppo_cfg.n_steps, batch_size=ppo_cfg.batch_size, n_epochs=ppo_cfg.n_epochs,
            learning_rate=ppo_cfg.learning_rate, gamma=ppo_cfg.gamma, device=args.device,
            policy_kwargs=dict(net_arch=list(ppo_cfg.hidden)),
        )  # fmt: skip
    sb3_s = time.perf_counter() - start
    sb3_rate = args.sb3_members * steps_per_member / sb3_s

    result = {
        "members": args.members, "sb3_members": args.sb3_members, "updates": args.updates,
        "steps_per_member": steps_per_member, "device": args.device,
        "batched_steps_per_s": batched_rate, "batched_seconds": batched_s,
        "sb3_steps_per_s": sb3_rate, "sb3_seconds": sb3_s, "ratio": batched_rate / sb3_rate,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "throughput.json", (json.dumps(result, indent=1) + "\n").encode())
    print(
        f"batched population ({args.members} victims): {batched_rate:,.0f} env steps/s; "
        f"SB3 one by one ({args.sb3_members} victims): {sb3_rate:,.0f} env steps/s; "
        f"ratio {batched_rate / sb3_rate:.1f}x"
    )


if __name__ == "__main__":
    main()
