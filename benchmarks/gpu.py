"""CUDA vs CPU in one run: batched attacks, SA-PPO and optimal-attack updates, the ACT
population and learned-reward serving.

    python benchmarks/gpu.py [--device cuda|cpu] [--quick] [--out DIR]

Every case is measured on the CPU and, with ``--device cuda``, on the GPU too, in the same
process, and reported as work per second (the unit of each row) and the ratio CUDA / CPU
(> 1: the GPU is faster). ``--device cpu`` measures the CPU side only and prints the ratios
as n/a (what the test suite runs, with ``--quick``: tiny sizes, a few seconds). Sections:

  pgd_mad         PGD-10 and MAD-10 alone (no env) on 64, 256 and 1,024 stacked HalfCheetah
                  observations against the shipped ppo-halfcheetah victim (its TorchPolicy
                  on the device: ``advrl.zoo.load(name, device=...)``)
  sappo           one SA-PPO update (``train()``: 2 epochs, 10 SGLD steps per minibatch) on a
                  full HalfCheetah rollout buffer
  optimal_attack  the optimal attack's PPO adversary: one update on a full buffer, and
                  ``learn()`` of one more rollout (the victim runs inside the env on the CPU)
  act_population  one ACT generation at population 64, 256 and 1,024 (every member's victim
                  trained for one PPO update, evaluated, one ES step)
  learned_reward  a RewardNet and a 5-member RewardEnsemble serving batches of 64, 1,024
                  and 16,384 transitions (numpy in and out, so host-device copies count)

Each rate is the median of ``--repeats`` timings after one warm-up call, each timing as many
calls as fill 0.3 s (at least one), with the device synchronised around them. The CPU side
runs torch on one thread, as every benchmark here (on a shared 2-vCPU machine two threads
made an ACT generation 7x slower); ``--cpu-threads N`` gives it more (recorded in the
report). The CPU side of the full run takes 1.5 min on a 2-vCPU machine, so the whole run
fits well under 10 minutes on a CUDA one; ``--out`` writes ``gpu.json`` and ``gpu.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

# numpy and torch are imported inside the functions, after main() has set the thread count:
# numpy's BLAS (OpenBLAS) sizes its thread pool from the environment when it loads, and an
# unlimited pool made a learned-reward batch of 1,024 ten times slower on a shared 2-vCPU box.

SECTIONS = ("pgd_mad", "sappo", "optimal_attack", "act_population", "learned_reward")
VICTIM = "ppo-halfcheetah"
Case = tuple[str, str, Callable[[str], Callable[[], float]]]
"""(case name, unit, build(device) -> a call that does the work and returns its amount)."""


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch as th

        th.cuda.synchronize(device)


def rate(run: Callable[[], float], device: str, repeats: int, min_seconds: float) -> float:
    """Work per second of ``run``: the median over ``repeats`` timings after a warm-up call;
    each timing calls ``run`` until ``min_seconds`` have passed (fast cases are timed over
    many calls, so a stray context switch does not decide them)."""
    run()
    rates = []
    for _ in range(repeats):
        sync(device)
        start, work = time.perf_counter(), 0.0
        while work == 0.0 or time.perf_counter() - start < min_seconds:
            work += run()
            sync(device)
        rates.append(work / (time.perf_counter() - start))
    return statistics.median(rates)


# --- the sections: each a list of cases --------------------------------------------------


def pgd_mad_cases(quick: bool) -> list[Case]:
    import gymnasium as gym
    import numpy as np
    import torch as th

    import advrl.zoo
    from advrl.attacks import MAD, PGD

    env = gym.make("HalfCheetah-v5")
    obs, _ = env.reset(seed=0)
    frames = [obs]
    for _ in range(255):  # real observations, later stacked into batches
        obs, *_ = env.step(env.action_space.sample())
        frames.append(obs)
    frames = th.as_tensor(np.stack(frames), dtype=th.float32)

    def build(attack, batch: int):
        def on(device: str):
            policy = advrl.zoo.load(VICTIM, device=device).torch_policy()
            index = th.randint(len(frames), (batch,), generator=th.Generator().manual_seed(0))
            x = policy.normalize(frames[index].to(device))
            gen = th.Generator(device=device).manual_seed(0)
            return lambda: (attack(x, policy, gen), batch)[1]

        return on

    sizes = (64,) if quick else (64, 256, 1024)
    return [(f"{a.name.upper()}-10, {b} obs", "obs/s", build(a, b))
            for a in (PGD(0.15, steps=10), MAD(0.15, steps=10)) for b in sizes]  # fmt: skip


def _ppo_sizes(quick: bool) -> dict:
    if quick:
        return dict(n_steps=64, batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]))
    return dict(n_steps=512, batch_size=256, n_epochs=2)


def _updates(model) -> Callable[[], float]:
    """One ``train()`` on the model's full rollout buffer; returns the samples it processed."""
    samples = model.n_epochs * model.rollout_buffer.buffer_size * model.rollout_buffer.n_envs
    return lambda: (model.train(), samples)[1]


def sappo_cases(quick: bool) -> list[Case]:
    from stable_baselines3.common.env_util import make_vec_env

    from advrl.agents.sappo import SAPPO

    n_envs = 1 if quick else 4

    def on(device: str):
        venv = make_vec_env("HalfCheetah-v5", n_envs, seed=0)
        model = SAPPO("MlpPolicy", venv, sa_eps=0.075, device=device, seed=0, **_ppo_sizes(quick))
        model.learn(model.n_steps * n_envs)  # fills the buffer the timed updates reuse
        return _updates(model)

    return [(f"update, {n_envs} x {_ppo_sizes(quick)['n_steps']} samples", "samples/s", on)]


def optimal_attack_cases(quick: bool) -> list[Case]:
    from advrl.attacks.learned.optimal import train_optimal_attack

    n_envs, sizes = (1 if quick else 4), _ppo_sizes(quick)
    models: dict[str, object] = {}

    def trained(device: str):
        if device not in models:
            steps = sizes["n_steps"] * n_envs
            models[device] = train_optimal_attack(VICTIM, 0.15, steps, n_envs=n_envs,
                                                  device=device, **sizes).model  # fmt: skip
        return models[device]

    def learn(device: str):
        model = trained(device)
        steps = model.n_steps * n_envs
        return lambda: (model.learn(steps, reset_num_timesteps=False), steps)[1]

    label = f"{n_envs} x {sizes['n_steps']}"
    return [(f"update, {label} samples", "samples/s", lambda d: _updates(trained(d))),
            (f"learn (rollout + update), {label}", "env-steps/s", learn)]  # fmt: skip


def act_population_cases(quick: bool) -> list[Case]:
    from advrl.attacks.act.population import PPOConfig
    from advrl.attacks.act.trainer import ACTConfig, train_act

    ppo = PPOConfig(n_envs=1, n_steps=16, batch_size=16, hidden=(8,)) if quick else PPOConfig()

    def build(population: int):
        def on(device: str):
            cfg = ACTConfig(popsize=population, generations=1, n_updates=1, eval_envs=2,
                            ppo=ppo, device=device)  # fmt: skip
            steps = population * ppo.n_envs * ppo.n_steps
            return lambda: (train_act(cfg), steps)[1]

        return on

    sizes = (4,) if quick else (64, 256, 1024)
    return [(f"generation, population {p}", "victim env-steps/s", build(p)) for p in sizes]


def learned_reward_cases(quick: bool) -> list[Case]:
    import gymnasium as gym
    import numpy as np
    import torch as th

    from advrl.agents.reward_models import RewardEnsemble, RewardNet
    from advrl.envs.learned_reward import predict_rewards

    obs_space = gym.spaces.Box(-np.inf, np.inf, (17,), np.float32)  # HalfCheetah's shapes
    act_space = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)

    def build(members: int, batch: int):
        def on(device: str):
            th.manual_seed(0)
            nets = [RewardNet(obs_space, act_space, device=device) for _ in range(members)]
            model = nets[0] if members == 1 else RewardEnsemble(nets, "uwo", lam=0.1)
            rng = np.random.default_rng(0)
            obs, next_obs = rng.normal(size=(2, batch, 17)).astype(np.float32)
            actions = rng.uniform(-1, 1, (batch, 6)).astype(np.float32)
            return lambda: (predict_rewards(model, obs, actions, next_obs), batch)[1]

        return on

    sizes = (64,) if quick else (64, 1024, 16384)
    return [(f"{'net' if m == 1 else 'ensemble of 5'}, batch {b}", "transitions/s", build(m, b))
            for m in (1, 5) for b in sizes]  # fmt: skip


CASES = {
    "pgd_mad": pgd_mad_cases,
    "sappo": sappo_cases,
    "optimal_attack": optimal_attack_cases,
    "act_population": act_population_cases,
    "learned_reward": learned_reward_cases,
}


# --- running and reporting ----------------------------------------------------------------


def measure(device: str, quick: bool, repeats: int, sections=SECTIONS) -> dict[str, list[dict]]:
    """Every case of every section on the CPU and, unless ``device`` is the CPU, on it."""
    devices = ["cpu"] if device == "cpu" else ["cpu", device]
    results: dict[str, list[dict]] = {}
    for section in sections:
        rows = []
        for name, unit, build in CASES[section](quick):
            start = time.perf_counter()
            rates = {d: rate(build(d), d, repeats, 0.02 if quick else 0.3) for d in devices}
            gpu = rates.get(device) if device != "cpu" else None
            rows.append({"case": name, "unit": unit, "cpu": rates["cpu"], "cuda": gpu,
                         "ratio": gpu / rates["cpu"] if gpu is not None else None})  # fmt: skip
            shown = ", ".join(f"{d} {r:,.0f} {unit}" for d, r in rates.items())
            print(f"  {section}: {name}: {shown} ({time.perf_counter() - start:.1f} s)", flush=True)
        results[section] = rows
    return results


def markdown(report: dict) -> str:
    def fmt(value: float | None, spec: str = ",.0f") -> str:
        return "n/a" if value is None else format(value, spec)

    lines = [f"CUDA vs CPU ({report['cuda_device'] or 'no CUDA device: CPU only'}; CPU: "
             f"{report['cpu_threads']} torch threads; {'quick' if report['quick'] else 'full'} "
             f"sizes, median of {report['repeats']})", "",
             "| section | case | unit | CPU | CUDA | CUDA / CPU |",
             "|---|---|---|---:|---:|---:|"]  # fmt: skip
    for section, rows in report["sections"].items():
        for row in rows:
            lines.append(f"| {section} | {row['case']} | {row['unit']} | {fmt(row['cpu'])} | "
                         f"{fmt(row['cuda'])} | {fmt(row['ratio'], '.2f')} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (or cuda:N), or cpu: CPU only")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds, for tests)")
    parser.add_argument("--out", type=Path, help="write gpu.json and gpu.md here")
    parser.add_argument("--repeats", type=int, help="timings per case (default 3, quick 2)")
    parser.add_argument("--cpu-threads", type=int, default=1, help="torch threads, CPU side")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args(argv)
    if args.cpu_threads < 1:
        parser.error(f"--cpu-threads must be >= 1, got {args.cpu_threads}")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.cpu_threads)  # before numpy and torch load
    import torch as th

    device = args.device
    if device != "cpu" and not device.startswith("cuda"):
        parser.error(f"--device must be cuda, cuda:N or cpu, got {device!r}")
    if device.startswith("cuda") and not th.cuda.is_available():
        parser.error(f"--device {device}: torch {th.__version__} sees no CUDA device; "
                     "use --device cpu to measure the CPU side only")  # fmt: skip
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 3)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")
    th.set_num_threads(args.cpu_threads)
    start = time.perf_counter()
    sections = measure(device, args.quick, repeats, args.sections)
    report = {
        "device": device, "quick": args.quick, "repeats": repeats, "torch": th.__version__,
        "cuda_device": th.cuda.get_device_name(device) if device != "cpu" else None,
        "cpu_threads": th.get_num_threads(), "seconds": time.perf_counter() - start,
        "sections": sections,
    }  # fmt: skip
    text = markdown(report)
    print(text + f"\n{report['seconds']:.0f} s in all")
    if args.out is not None:
        from advrl.zoo.checkpoint import atomic_write_bytes

        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out / "gpu.json", (json.dumps(report, indent=1) + "\n").encode())
        atomic_write_bytes(args.out / "gpu.md", text.encode())


if __name__ == "__main__":
    main()
