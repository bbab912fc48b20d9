"""Does ONI's message reward raise exploration on NetHack? PPO, extrinsic only vs ONI.

    nohup python benchmarks/oni_exploration.py --steps 60000 > runs/oni_exploration.log 2>&1 &

Both arms train SB3 PPO (MultiInputPolicy + NetHackExtractor) on advrl/NetHackScore-v0
wrapped in MessageReward: ``ext`` with c_int = 0, ``oni`` with the retrieval reward served by
an AnnotationService over the keyword annotator (c_int = 1). The extrinsic (score) reward is
scaled by c_ext = 0.1 in both. Exploration is measured on the training episodes of the
second half of each run: distinct non-empty messages per episode, distinct *helpful*
(keyword-labelled) messages, deepest dungeon level, in-game score and episode length.
Each (arm, seed) cell is stored atomically under --out; a killed run resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

import advrl  # noqa: F401  (registers advrl/ ids)
from advrl.agents.oni.extractor import NetHackExtractor
from advrl.bench.store import ResultsStore
from advrl.envs.nethack.annotators import KeywordAnnotator
from advrl.envs.nethack.messages import MessageReward
from advrl.envs.nethack.service import AnnotationService

DEPTH = 12  # nethack.NLE_BL_DEPTH


@dataclass(frozen=True)
class ExplorationCell:
    arm: str
    seed: int
    steps: int
    env: str = "advrl/NetHackScore-v0"
    max_episode_steps: int = 1000
    c_ext: float = 0.1
    c_int: float = 1.0

    @property
    def key(self) -> str:
        digest = hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.arm}-s{self.seed}-{digest}"

    def to_dict(self) -> dict:
        return asdict(self)


class EpisodeStats(BaseCallback):
    """Per training episode: distinct messages, distinct helpful ones, max depth, score."""

    def __init__(self) -> None:
        super().__init__()
        self.label = KeywordAnnotator().label
        self.episodes: list[dict] = []

    def _on_training_start(self) -> None:
        n = self.training_env.num_envs
        self._msgs: list[set[str]] = [set() for _ in range(n)]
        self._depth, self._score, self._len = [1] * n, [0.0] * n, [0] * n

    def _on_step(self) -> bool:
        obs, dones, infos = self.locals["new_obs"], self.locals["dones"], self.locals["infos"]
        for i, (done, info) in enumerate(zip(dones, infos, strict=True)):
            if info.get("message_text"):
                self._msgs[i].add(info["message_text"])
            self._score[i] += info["reward_true"]
            self._len[i] += 1
            last = info.get("terminal_observation", {}).get("blstats") if done else None
            blstats = last if last is not None else obs["blstats"][i]
            self._depth[i] = max(self._depth[i], int(blstats[DEPTH]))
            if done:
                self.episodes.append({
                    "step": int(self.num_timesteps),
                    "messages": len(self._msgs[i]),
                    "helpful": sum(self.label(m) > 0 for m in self._msgs[i]),
                    "depth": self._depth[i],
                    "score": self._score[i],
                    "length": self._len[i],
                })  # fmt: skip
                self._msgs[i], self._depth[i], self._score[i], self._len[i] = set(), 1, 0.0, 0
        return True


def run_cell(cell: ExplorationCell, run_dir: Path) -> dict:
    service = None
    if cell.arm == "oni":
        service = AnnotationService(KeywordAnnotator(), run_dir / f"labels-s{cell.seed}.json")
        reward_fn, c_int = service, cell.c_int
    elif cell.arm == "ext":
        reward_fn, c_int = (lambda message: 0.0), 0.0
    else:
        raise ValueError(f"unknown arm {cell.arm!r}; allowed: ['ext', 'oni']")

    def make(rank: int):
        def thunk() -> gym.Env:
            env = gym.make(cell.env, max_episode_steps=cell.max_episode_steps)
            return MessageReward(env, reward_fn, c_ext=cell.c_ext, c_int=c_int)

        return thunk

    venv = DummyVecEnv([make(r) for r in range(4)])
    venv.seed(cell.seed)
    model = PPO(
        "MultiInputPolicy", venv, n_steps=128, batch_size=256, n_epochs=4, learning_rate=3e-4,
        ent_coef=0.01, gamma=0.99, seed=cell.seed, verbose=0,
        policy_kwargs={"features_extractor_class": NetHackExtractor, "net_arch": [128]},
    )  # fmt: skip
    stats = EpisodeStats()
    start = time.perf_counter()
    model.learn(cell.steps, callback=stats)
    seconds = time.perf_counter() - start
    if service is not None:
        service.close()
    return {
        **summarize(cell, stats.episodes),
        "seconds": seconds,
        "labelled_messages": len(service.store) if service is not None else 0,
    }


def summarize(cell: ExplorationCell, episodes: list[dict]) -> dict:
    """Means over the training episodes of the run's second half (all, if none ended there)."""
    if not episodes:
        raise ValueError(
            f"arm {cell.arm!r} seed {cell.seed}: {cell.steps} env steps (4 envs) finished no "
            f"episode (episodes last up to {cell.max_episode_steps} steps); give more --steps"
        )
    late = [e for e in episodes if e["step"] > cell.steps // 2] or episodes
    return {
        "episodes_total": len(episodes),
        "episodes_second_half": len(late),
        "second_half_mean": {
            key: statistics.fmean(e[key] for e in late)
            for key in ("messages", "helpful", "depth", "score", "length")
        },
        "max_depth_seen": max(e["depth"] for e in episodes),
        "episodes": episodes,
    }


def ratio(oni: float, ext: float) -> str:
    """``oni / ext``, or why there is none (the extrinsic arm saw none of the thing)."""
    if ext == 0:
        return "n/a (ext is 0)"
    return f"{oni / ext:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60000, help="env steps per arm and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="runs/oni_exploration")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    th.set_num_threads(1)
    run_dir = Path(args.out)
    store = ResultsStore(run_dir)
    cells = [ExplorationCell(arm, s, args.steps) for s in args.seeds for arm in ("ext", "oni")]
    for cell in cells:
        if not store.done(cell):
            try:
                store.put(cell, run_cell(cell, run_dir))
            except ValueError as err:
                parser.exit(2, f"{parser.prog}: error: {err}\n")
            print(f"done {cell.key}", flush=True)
    print(f"{cells[0].env}, {args.steps} env steps per arm, seeds {args.seeds}; "
          "means over training episodes in the second half")  # fmt: skip
    print("| arm | seed | episodes | distinct msgs | helpful msgs | max depth | score | "
          "max depth seen | env steps/s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cell in cells:
        r = store.get(cell)
        m = r["second_half_mean"]
        print(
            f"| {cell.arm} | {cell.seed} | {r['episodes_second_half']} | {m['messages']:.2f} | "
            f"{m['helpful']:.2f} | {m['depth']:.2f} | {m['score']:.1f} | {r['max_depth_seen']} "
            f"| {cell.steps / r['seconds']:.0f} |"
        )
    rows = {arm: [store.get(c)["second_half_mean"] for c in cells if c.arm == arm]
            for arm in ("ext", "oni")}  # fmt: skip
    for key in ("messages", "helpful", "depth"):
        ext = np.mean([m[key] for m in rows["ext"]])
        oni = np.mean([m[key] for m in rows["oni"]])
        print(f"{key}: oni / ext = {oni:.2f} / {ext:.2f} = {ratio(oni, ext)}")


if __name__ == "__main__":
    main()
