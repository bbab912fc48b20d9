"""Throughput of adversarial-policy training vs plain PPO on the same game (issue 16; goal
>= 0.8x), interleaved in one run so that machine noise hits both alike:

    OMP_NUM_THREADS=1 python benchmarks/adversarial_policy_throughput.py [--steps 16384]
        [--game sumo|you_shall_not_pass]

Plain: SB3 PPO in the attacker's seat (sumo: ``player_1``; you-shall-not-pass: the blocker)
against a uniformly random opponent (``VecAgentView``, 8 envs). Adversary: the same PPO in
:func:`advrl.attacks.adversarial_policy.adversary_env` against a frozen PPO victim (its
forward pass batched over the 8 envs each step), at budget 1 (Gleave) and at budget 0.5
(Liu et al.: the normal opponent's policy is queried every step too). The victims are
untrained networks of the shipped architecture: a forward pass costs the same.
"""

from __future__ import annotations

import argparse
import functools
import json
import time

import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor

from advrl.attacks.adversarial_policy import adversary_env
from advrl.bench.adversarial_policies import SEATS
from advrl.envs.agent_view import VecAgentView
from advrl.envs.competitive import make_game, player_view
from advrl.zoo.train_games import PPO_GAMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16_384)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--game", default="sumo", choices=sorted(SEATS))
    args = parser.parse_args()
    th.set_num_threads(1)
    game, (seat, attacker) = args.game, SEATS[args.game]
    victim = PPO("MlpPolicy", player_view(game, seat), seed=0, **PPO_GAMES)
    normal = PPO("MlpPolicy", player_view(game, attacker), seed=1, **PPO_GAMES)
    envs = {
        "plain PPO vs random": lambda: VecMonitor(VecAgentView(
            [functools.partial(make_game, game)] * 8, attacker, {seat: "random"})),
        "adversary, budget 1": lambda: adversary_env(game, victim, seat),
        "adversary, budget 0.5": lambda: adversary_env(game, victim, seat, normal, 0.5),
    }  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in envs}
    for _ in range(args.repeats):
        for name, make in envs.items():
            model = PPO("MlpPolicy", make(), seed=0, **PPO_GAMES)
            start = time.perf_counter()
            model.learn(args.steps)
            times[name].append(time.perf_counter() - start)
    base = float(np.median(times["plain PPO vs random"]))
    out = {}
    for name, t in times.items():
        median = float(np.median(t))
        out[name] = {"steps_per_second": args.steps / median, "ratio_vs_plain": base / median}
    print(json.dumps({"game": game, **out}, indent=1))


if __name__ == "__main__":
    main()
