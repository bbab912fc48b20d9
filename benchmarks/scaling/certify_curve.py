"""Curve (c): certification time vs episodes, the rollouts and the certificate separately.

What ``advrl certify`` does for a smoothed policy, in its two stages:

- rollouts: ``smoothed_rollouts`` of the shipped ``ppo-cartpole-smooth-sigma0.2`` agent
  (Gymnasium's numpy CartPole vector env, 1,000 episodes per round, one policy call per step
  for all of them), real episodes at every size;
- certificate: :func:`advrl.agents.smoothing.certify.certify` over 11 budgets, DKW and
  Clopper-Pearson, on those real returns (CartPole returns take few distinct values) and on
  synthetic continuous returns (every return distinct: the most thresholds, the worst case
  of the per-threshold bounds).
"""

from __future__ import annotations

import numpy as np
from measure import Curve, Timing, timed, timed_loop

import advrl.zoo
from advrl.agents.smoothing.certify import certify
from advrl.agents.smoothing.rollout import SmoothedTask, smoothed_rollouts

POLICY = "ppo-cartpole-smooth-sigma0.2"
BUDGETS = np.linspace(0.0, 1.0, 11)


def certify_curve(repeats: int, episodes=(1_000, 10_000, 100_000)) -> Curve:
    victim = advrl.zoo.load(POLICY)
    policy, task = victim.torch_policy(), SmoothedTask.from_zoo(victim)
    curve = Curve(
        "certify", f"{POLICY} (sigma {task.sigma}) · rollouts: 1,000 envs per round · "
        f"certificate: {len(BUDGETS)} budgets · median of {repeats}", "episodes", "episodes",
        plot="seconds",
    )  # fmt: skip
    smoothed_rollouts(policy, task, 200, n_envs=200, seed=99)  # warm-up, not reported
    rng = np.random.default_rng(0)
    distinct = []
    for r in range(repeats):
        for n in episodes:
            result = None

            def rollout(n: int = n, seed: int = r * 10**6) -> float:
                nonlocal result
                result = smoothed_rollouts(policy, task, n, n_envs=1000, seed=seed)
                return n

            curve.add("rollouts (real)", n, timed(rollout))
            synthetic = rng.uniform(0.0, 500.0, n)
            for method, short in (("dkw", "DKW"), ("clopper_pearson", "CP")):
                for kind, returns in (("real", result.returns), ("synthetic", synthetic)):
                    t = timed_loop(lambda m=method, x=returns: certify(x, task.sigma, BUDGETS,
                                                                       method=m))  # fmt: skip
                    curve.add(f"certificate {short} ({kind})", n, Timing(t.wall, t.cpu, n))
            if r == 0:
                distinct.append(f"{n:,}: {len(np.unique(result.returns))}")
    curve.notes.append("distinct real returns (thresholds) by episodes: " + ", ".join(distinct))
    curve.notes.append("synthetic returns: uniform on [0, 500], all distinct")
    return curve
