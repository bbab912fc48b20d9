"""Wrapper overhead: env steps/s of advrl wrappers vs the raw env, measured in one run.

    python benchmarks/wrapper_overhead.py [--env HalfCheetah-v5] [--steps 20000]
        [--repeats 15] [--chunk 1000] [--baseline REF]

Configurations:
  raw          gym.make(env)
  forwarding   a gym.Wrapper that only forwards (what any Python wrapper layer costs)
  pass-through PerturbObservation with eps = 0 (the attack plumbing, no perturbation)
  uniform      PerturbObservation(UniformNoise(eps)) in the zoo victim's normalised space
Actions are pre-drawn so only env + wrapper time is measured. A repeat steps every
configuration ``--steps`` times, interleaved ``--chunk`` steps at a time in a random order,
so all of them see the same load on a shared machine. Each chunk is timed by two clocks: the
wall clock and the stepping process's CPU time (``time.process_time``), which other tenants
disturb less. Per repeat, a wrapper's overhead is its time per step minus the raw env's;
the report gives medians over repeats.

``--baseline REF`` also measures the advrl code at git commit REF (e.g. ``HEAD~3``): each
code steps its own envs in a worker process, the chunks of both codes are interleaved the
same way, and the report adds the before/after ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

KINDS = ("raw", "forwarding", "pass-through", "uniform")
CLOCKS = ("cpu", "wall")
ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = {
    "advrl": "advrl",
    "advrl.envs": "envs",
    "advrl.attacks": "attacks",
    "advrl.agents": "agents",
}
"""pyproject's ``package-dir``: the repository folders that make up the ``advrl`` package."""


def make(kind: str, env_id: str, policy, eps: float):
    import gymnasium as gym

    from advrl.attacks import PerturbObservation, UniformNoise

    env = gym.make(env_id)
    if kind == "forwarding":
        return gym.Wrapper(env)
    if kind == "pass-through":
        return PerturbObservation(env, UniformNoise(0.0), policy, seed=0)
    if kind == "uniform":
        return PerturbObservation(env, UniformNoise(eps), policy, seed=0)
    return env


class Bench:
    """The configurations, built once; each keeps stepping through the pre-drawn actions
    (auto-reset) one timed chunk at a time."""

    def __init__(self, args: argparse.Namespace) -> None:
        import gymnasium as gym
        import numpy as np
        import torch as th

        import advrl.attacks.apply
        import advrl.zoo

        th.set_num_threads(1)
        policy = advrl.zoo.load(args.policy).torch_policy()
        probe = gym.make(args.env)
        probe.action_space.seed(0)
        self.actions = np.stack([probe.action_space.sample() for _ in range(args.chunk)])
        self.envs = {k: make(k, args.env, policy, args.eps) for k in KINDS}
        for env in self.envs.values():
            env.reset(seed=0)
        self.source = str(Path(advrl.attacks.apply.__file__).parent.parent)

    def chunk(self, kind: str) -> dict[str, float]:
        """Seconds of one chunk of ``kind`` by each clock."""
        env = self.envs[kind]
        wall, cpu = time.perf_counter(), time.process_time()
        for action in self.actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def worker(args: argparse.Namespace) -> None:
    """Serve chunks over stdin/stdout: a configuration name in, one JSON line out."""
    bench = Bench(args)
    print(json.dumps({"source": bench.source}), flush=True)
    for line in sys.stdin:
        print(json.dumps(bench.chunk(line.strip())), flush=True)


def checkout(ref: str, into: Path) -> Path:
    """An importable copy of advrl at git ``ref``: the repository's folders assembled into
    the ``advrl`` package as :data:`PACKAGE_DIR` maps them."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    tree = into / "tree"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tree, **safe)
    site = into / "site"
    for name, folder in sorted(PACKAGE_DIR.items()):  # "advrl" before "advrl.attacks"
        target = site.joinpath(*name.split("."))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(tree / folder, target_is_directory=True)
    return site


class Worker:
    """A :class:`Bench` in a subprocess, on the advrl found first on ``pythonpath``."""

    def __init__(self, args: list[str], pythonpath: Path | None) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if pythonpath is not None:  # found before the editable install's import finder
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(pythonpath), env.get("PYTHONPATH")])
            )
        command = [sys.executable, __file__, "--worker", *args]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.source = self._read()["source"]

    def _read(self) -> dict:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"worker {self.process.args} exited with {self.process.wait()}")
        return json.loads(line)

    def chunk(self, kind: str) -> dict[str, float]:
        self.process.stdin.write(kind + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait()


def measure(benches: dict, args: argparse.Namespace) -> dict[str, list[dict]]:
    """Per code label, one ``{kind: {clock: seconds per step}}`` per repeat.

    Each round runs one chunk of every cell, the codes in a random order and each code's
    configurations in a random order: a fixed order would always put the same cell after a
    switch of process (cold caches), or after the same neighbour.
    """
    rng = random.Random(0)
    cells = [(label, kind) for label in benches for kind in KINDS]
    chunks = max(1, args.steps // args.chunk)
    samples: dict[str, list[dict]] = {label: [] for label in benches}
    for _ in range(args.repeats):
        total = {cell: {clock: 0.0 for clock in CLOCKS} for cell in cells}
        for _ in range(chunks):
            for label in rng.sample(list(benches), len(benches)):
                for kind in rng.sample(KINDS, len(KINDS)):
                    for clock, seconds in benches[label].chunk(kind).items():
                        total[label, kind][clock] += seconds
        steps = chunks * args.chunk
        for label in benches:
            samples[label].append(
                {k: {c: total[label, k][c] / steps for c in CLOCKS} for k in KINDS}
            )
    return samples


def summarise(samples: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict]]:
    """Per configuration and clock: median steps/s, median per-step overhead vs raw (us, and
    % of the raw step), each overhead paired with the raw time of the same repeat."""
    out: dict[str, dict[str, dict]] = {}
    for kind in KINDS:
        out[kind] = {}
        for clock in CLOCKS:
            per_step = [s[kind][clock] for s in samples]
            extra = [s[kind][clock] - s["raw"][clock] for s in samples]
            ratio = [s[kind][clock] / s["raw"][clock] - 1 for s in samples]
            out[kind][clock] = {
                "sps": statistics.median(1 / t for t in per_step),
                "us": 1e6 * statistics.median(extra),
                "pct": 100 * statistics.median(ratio),
            }
    return out


def report(results: dict[str, dict], args: argparse.Namespace, sources: dict[str, str]) -> None:
    print(
        f"{args.env}, {args.repeats} repeats x {args.steps} steps per configuration "
        f"(chunks of {args.chunk}), medians over repeats"
    )
    for label, source in sources.items():
        print(f"  {label}: {source}")
    print("| code | wrapper | steps/s CPU | steps/s wall | overhead CPU | overhead wall |")
    print("|---|---|---:|---:|---:|---:|")
    for label, summary in results.items():
        for kind in KINDS:
            cpu, wall = summary[kind]["cpu"], summary[kind]["wall"]
            cells = [f"{cpu['sps']:,.0f}", f"{wall['sps']:,.0f}"]
            if kind == "raw":
                cells += ["-", "-"]
            else:
                cells += [f"{c['pct']:.1f}% ({c['us']:.2f} us)" for c in (cpu, wall)]
            print(f"| {label} | {kind} | " + " | ".join(cells) + " |")
    if set(results) == {"before", "after"}:
        before, after = results["before"], results["after"]
        print("\n| wrapper | steps/s after/before CPU | wall | overhead CPU before -> after |")
        print("|---|---:|---:|---:|")
        for kind in KINDS[1:]:
            speed = [after[kind][c]["sps"] / before[kind][c]["sps"] for c in CLOCKS]
            b, a = before[kind]["cpu"], after[kind]["cpu"]
            change = f"{b['pct']:.1f}% -> {a['pct']:.1f}% ({b['us']:.2f} -> {a['us']:.2f} us)"
            print(f"| {kind} | {speed[0]:.3f}x | {speed[1]:.3f}x | {change} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--policy", default="ppo-halfcheetah")
    parser.add_argument("--eps", type=float, default=0.15)
    parser.add_argument("--steps", type=int, default=20000, help="steps per repeat and config")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--chunk", type=int, default=1000, help="steps timed at a time")
    parser.add_argument("--baseline", metavar="REF", help="also measure advrl at git REF")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.baseline is None:
        bench = Bench(args)
        samples = measure({"current": bench}, args)
        return report({"current": summarise(samples["current"])}, args, {"current": bench.source})
    forwarded = [f"--{k}={getattr(args, k)}" for k in ("env", "policy", "eps", "chunk")]
    with tempfile.TemporaryDirectory() as tmp:
        workers = {
            "before": Worker(forwarded, checkout(args.baseline, Path(tmp))),
            "after": Worker(forwarded, None),
        }
        if workers["before"].source == workers["after"].source:
            raise RuntimeError(f"the baseline worker imported {workers['after'].source}")
        try:
            samples = measure(workers, args)
        finally:
            for w in workers.values():
                w.close()
    sources = {"before": f"git {args.baseline}", "after": workers["after"].source}
    report({label: summarise(s) for label, s in samples.items()}, args, sources)


if __name__ == "__main__":
    main()
