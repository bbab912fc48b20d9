"""Env steps/s: raw nle vs the advrl task vs MessageReward + the asynchronous annotator.

    python benchmarks/nethack_throughput.py [--steps 20000] [--repeats 3]

All variants step NetHackScore with the same observation keys (glyphs, chars, blstats,
message) and the same pre-drawn random actions, single-threaded, alternating repeats;
medians are reported as a ratio to raw nle measured in the same run. The primary figure is
steps per *CPU* second of the whole process (annotator thread included): on a shared,
oversubscribed machine wall-clock rates swing 2x between identical runs. The ONI variants add
MessageReward (decode the message, count it, look it up) and an AnnotationService thread
labelling new messages (keyword annotator, or one that sleeps 50 ms per batch to stand in
for an LLM server) and saving labels to a temporary file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

import advrl  # noqa: F401

# Imports nle (which registers NetHackScore-v0), or says to install advrl[nethack].
import advrl.envs.nethack.tasks  # noqa: F401
from advrl.envs.nethack.annotators import KeywordAnnotator
from advrl.envs.nethack.messages import MessageReward
from advrl.envs.nethack.service import AnnotationService
from advrl.envs.nethack.tasks import DEFAULT_KEYS


class SlowKeywords(KeywordAnnotator):
    """The keyword rules behind a 50 ms wait per batch (an LLM round trip, roughly)."""

    def annotate(self, messages):
        time.sleep(0.05)
        return super().annotate(messages)


def rate(variant: str, steps: int, workdir: Path) -> tuple[float, float, int, int]:
    """(env steps per CPU second, per wall second, labelled messages, episodes)."""
    service = None
    if variant == "raw nle":
        env = gym.make("NetHackScore-v0", observation_keys=DEFAULT_KEYS, fix_moon_phase=True)
    else:
        env = gym.make("advrl/NetHackScore-v0")
    if variant.startswith("MessageReward"):
        annotator = SlowKeywords() if "slow" in variant else KeywordAnnotator()
        service = AnnotationService(annotator, workdir / f"labels-{time.time_ns()}.json")
        env = MessageReward(env, service)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=steps)
    if variant == "raw nle":
        # Seed raw nle exactly as NetHackTask.reset(seed=0) does, so every variant plays
        # the same games with the same actions (resets cost ~ms; their count must match).
        seeds = np.random.default_rng(0)

        def reset() -> None:
            core, disp, lgen = (int(s) for s in seeds.integers(1, 2**62, size=3))
            env.unwrapped.seed(core, disp, reseed=False, lgen=lgen)
            env.reset()
    else:

        def reset() -> None:
            env.reset()

        env.reset(seed=0)
    if variant == "raw nle":
        reset()
    episodes = 1
    start, cpu_start = time.perf_counter(), time.process_time()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            reset()
            episodes += 1
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start  # all threads: the annotator's CPU counts
    labelled = 0
    if service is not None:
        service.close()
        labelled = len(service.store)
    env.close()
    return steps / cpu_seconds, steps / seconds, labelled, episodes


VARIANTS = (
    "raw nle",
    "advrl/NetHackScore-v0",
    "MessageReward + AnnotationService (keywords)",
    "MessageReward + AnnotationService (slow: 50 ms/batch)",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    th.set_num_threads(1)
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    labelled: dict[str, int] = {}
    episodes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for variant in VARIANTS:
                cpu, w, labelled[variant], episodes[variant] = rate(
                    variant, args.steps, Path(tmp)
                )
                samples[variant].append(cpu)
                wall[variant].append(w)
    base = statistics.median(samples["raw nle"])
    wall_base = statistics.median(wall["raw nle"])
    print(f"NetHackScore, {args.steps} random-action steps per run, median of {args.repeats}")
    print("| variant | env steps / CPU s | ratio | env steps / wall s | ratio | episodes | "
          "messages labelled |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for variant in VARIANTS:
        m, w = statistics.median(samples[variant]), statistics.median(wall[variant])
        print(f"| {variant} | {m:,.0f} | {m / base:.2f} | {w:,.0f} | {w / wall_base:.2f} | "
              f"{episodes[variant]} | {labelled[variant]} |")  # fmt: skip


if __name__ == "__main__":
    main()
