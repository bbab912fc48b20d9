"""Train and ship players of the two-player MuJoCo games (the victims of adversarial
policies), weights-only, with a card:

    python -m advrl.zoo.train_games --game sumo --name ppo-sumo --steps 1000000 --seed 0
    python -m advrl.zoo.train_games --game you_shall_not_pass --name ppo-ysnp --steps 1000000

Sumo is symmetric: one policy is trained by :class:`~advrl.agents.self_play.SelfPlay` and
shipped once (``advrl/SumoPlayer-v0``; it plays either side). You-shall-not-pass trains the
runner and the blocker together (:class:`~advrl.agents.self_play.TakeTurns`) and ships both,
``<name>-runner`` and ``<name>-blocker`` (``advrl/YouShallNotPassPlayer-v0`` with
``agent``). Each card records the command and the trained player's results against a
random opponent and the scripted one of :data:`SCRIPTED`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch as th

from advrl.zoo import ZOO_DIR
from advrl.zoo.checkpoint import atomic_write_bytes, save_checkpoint, stack_versions

PPO_GAMES = dict(n_steps=256, batch_size=512, n_epochs=5, learning_rate=3e-4, gamma=0.99,
                 gae_lambda=0.95, ent_coef=0.0, policy_kwargs=dict(net_arch=[64, 64]))  # fmt: skip
PLAYER_ENV = {"sumo": "advrl/SumoPlayer-v0", "you_shall_not_pass": "advrl/YouShallNotPassPlayer-v0"}


def charge(obs: np.ndarray) -> np.ndarray:
    """Scripted: thrust straight at the opponent (its relative position is ``obs[:, 9:11]``)."""
    d = obs[:, 9:11]
    return np.c_[d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9), np.zeros((len(obs), 2))]


def run_forward(obs: np.ndarray) -> np.ndarray:
    """Scripted runner: full thrust to the finish line, sidestepping away from the blocker."""
    side = -np.sign(obs[:, 10]) * 0.5
    return np.c_[np.ones(len(obs)), side, np.zeros((len(obs), 2))]


SCRIPTED = {"sumo": {"player_1": charge}, "you_shall_not_pass": {"runner": run_forward,
                                                                 "blocker": charge}}  # fmt: skip
"""Per game and opponent seat: a scripted reference opponent."""


class Uniform:
    """A uniformly random opponent (seeded)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-1, 1, (len(obs), 4))


def results(game: str, agent: str, policy, episodes: int = 100, seed: int = 10_000) -> dict:
    """The player's win/loss/draw counts against a random and a scripted opponent."""
    from advrl.attacks.adversarial_policy import play_matches
    from advrl.envs.competitive import GAMES, make_game

    other = next(a for a in GAMES[game].possible_agents if a != agent)
    out = {}
    opponents = {"random": Uniform(seed), "scripted": SCRIPTED[game][other]}
    for name, opponent in opponents.items():
        rec = play_matches(lambda: make_game(game), {agent: policy, other: opponent}, agent,
                           episodes, seed=seed)  # fmt: skip
        out[name] = {"episodes": episodes, "wins": rec.wins, "losses": rec.losses,
                     "draws": rec.draws}  # fmt: skip
    return out


def ship(model, game: str, agent: str, name: str, out_dir: Path, card: dict) -> dict:
    """Write ``name.safetensors`` (weights only) and its card, with the player's results
    measured on the file just written."""
    from advrl.attacks.adversarial_policy import sb3_batch_policy
    from advrl.zoo import load_file

    env_kwargs = {} if game == "sumo" else {"agent": agent}
    path = out_dir / f"{name}.safetensors"
    save_checkpoint(path, algo="PPO", env_id=PLAYER_ENV[game], policy=model.policy,
                    policy_kwargs=PPO_GAMES["policy_kwargs"], env_kwargs=env_kwargs)  # fmt: skip
    shipped = load_file(path, name=name).model
    card = {"name": name, "env_id": PLAYER_ENV[game], "env_kwargs": env_kwargs, "algo": "PPO",
            "game": game, "agent": agent, **card,
            "results": results(game, agent, sb3_batch_policy(shipped))}  # fmt: skip
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    return card


def train(game: str, name: str, steps: int, seed: int, n_envs: int, out_dir: Path) -> list[dict]:
    from advrl.agents.self_play import SelfPlay, TakeTurns

    th.set_num_threads(1)
    start = time.perf_counter()
    if game == "sumo":
        play = SelfPlay(game, n_envs=n_envs, seed=seed, ppo_kwargs=PPO_GAMES).learn(steps)
        trained = {"player_0": (play.model, name)}
        trainer = {"trainer": "SelfPlay", "pool_size": play.pool_size,
                   "random_share": play.random_share}  # fmt: skip
    elif game == "you_shall_not_pass":
        turns = TakeTurns(game, n_envs=n_envs, seed=seed, ppo_kwargs=PPO_GAMES)
        rounds = max(1, steps // (2 * PPO_GAMES["n_steps"] * n_envs))
        turns.learn(rounds)
        trained = {a: (m, f"{name}-{a}") for a, m in turns.models.items()}
        trainer = {"trainer": "TakeTurns", "rounds": rounds}
    else:
        raise ValueError(f"unknown game {game!r}; allowed: {sorted(PLAYER_ENV)}")
    common = {
        **trainer,
        "command": "python -m advrl.zoo.train_games " + shlex.join(sys.argv[1:]),
        "seed": seed, "total_timesteps": steps, "n_envs": n_envs,
        "hyperparameters": {k: v for k, v in PPO_GAMES.items() if k != "policy_kwargs"},
        "net_arch": PPO_GAMES["policy_kwargs"]["net_arch"],
        "train_seconds": round(time.perf_counter() - start, 1),
        "versions": stack_versions(),
    }  # fmt: skip
    return [ship(model, game, agent, n, out_dir, common) for agent, (model, n) in trained.items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", required=True, choices=sorted(PLAYER_ENV))
    parser.add_argument("--name", required=True, help="zoo name, e.g. ppo-sumo")
    parser.add_argument("--steps", type=int, required=True, help="env steps (per player)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ZOO_DIR, help="output folder")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    for card in train(args.game, args.name, args.steps, args.seed, args.n_envs, args.out):
        print(card["name"], json.dumps(card["results"]), f"in {card['train_seconds']} s")


if __name__ == "__main__":
    main()
