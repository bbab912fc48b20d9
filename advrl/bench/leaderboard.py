"""The robustness leaderboard: defenses x attacks at the standard eps, the worst case per victim.

A leaderboard is two kinds of cells in one run directory. :class:`TrainAdversaryCell` trains
a learned adversary (optimal attack, Robust Sarsa critic, PA-AD director) against one victim
and writes it to ``<run>/adversaries/<cell key>.safetensors`` (with its card); evaluation
cells (:class:`~advrl.bench.cells.Cell`) attack each victim with every attack, the learned
ones loading that file (or the victim's shipped adversary). :func:`run_leaderboard` runs the
adversaries and every cell that needs none first, then the cells that need a trained one,
so each adversary is trained once, is stored, and a killed run resumes where it stopped.

On a Ray cluster the run directory must be on storage every node shares (as for claims):
an adversary is written where it was trained and read where it is used.

Example:
    >>> suite = leaderboard_suite(["ppo-cartpole"], ["pgd", "optimal"], episodes=2,
    ...                           adversary_steps=64, use_shipped=False)
    >>> [c.adversary_kind for c in suite.training], [c.attack for c in suite.evaluation]
    (['optimal'], ['none', 'pgd', 'optimal'])
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from advrl.bench.adversaries import TrainAdversaryCell, check_adversaries
from advrl.bench.cells import (
    STANDARD_EPS,
    Cell,
    check_attack_names,
    env_of,
    shipped_adversary_problem,
)
from advrl.bench.runner import RunSummary, run_suite

LEADERBOARD_ENVS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5")
DEFENSES = ("ppo", "sappo", "atla", "smooth")
"""Zoo victims ``<defense>-<env>`` (``ppo-hopper``); ``smooth``: ``ppo-<env>-smooth-*``."""
LEADERBOARD_ATTACKS = ("uniform", "critic", "mad", "pgd", "rs", "rs_mad", "optimal", "paad")
DEFAULT_ADVERSARY_STEPS = 1_000_000
"""The reference's budget: 488 PPO iterations of 2048 steps (ATLA_robust_RL attack configs)."""


def env_slug(env_id: str) -> str:
    """The name a zoo entry uses for an env: ``"HalfCheetah-v5"`` -> ``"halfcheetah"``."""
    return env_id.split("/")[-1].rsplit("-v", 1)[0].lower()


def base_env(env_id: str) -> str:
    """The task under a smoothed env (``advrl/SmoothedHalfCheetah-v0`` -> ``HalfCheetah-v5``)."""
    import gymnasium as gym

    import advrl  # noqa: F401  # registers the advrl/ ids

    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return env_id
    inner = spec.kwargs.get("env_id")
    smoothed = spec.entry_point == "advrl.agents.smoothing.envs:smoothed_env"
    return inner if smoothed and isinstance(inner, str) else env_id


def defense_of(policy: str, env_id: str) -> str:
    """A victim's defense label: its zoo name without the env (``sappo-hopper`` -> ``sappo``,
    ``ppo-halfcheetah-smooth-sigma0.1`` -> ``ppo-smooth-sigma0.1``)."""
    slug = f"-{env_slug(env_id)}"
    return policy.replace(slug, "", 1) if slug in policy else policy


def leaderboard_victims(envs: Sequence[str], defenses: Sequence[str]) -> list[str]:
    """The zoo victims of ``defenses`` on ``envs``.

    ``smooth`` takes every smoothed policy an env has and skips envs with none; any other
    defense must exist on every env.

    Raises:
        ValueError: an unknown defense or env, or victims missing from the zoo (all named,
            with the zoo's names).
    """
    import gymnasium as gym

    import advrl.zoo

    for defense in defenses:
        if defense not in DEFENSES:
            raise ValueError(f"unknown defense {defense!r}; allowed: {list(DEFENSES)}")
    for env in envs:
        if env not in gym.registry:
            raise ValueError(f"unknown env {env!r}; e.g. {list(LEADERBOARD_ENVS)}")
    zoo = advrl.zoo.names()
    victims, missing = [], []
    for env in envs:
        slug = env_slug(env)
        for defense in defenses:
            if defense == "smooth":
                victims += [n for n in zoo if n.startswith(f"ppo-{slug}-smooth-")]
            elif f"{defense}-{slug}" in zoo:
                victims.append(f"{defense}-{slug}")
            else:
                missing.append(f"{defense}-{slug}")
    if missing:
        raise ValueError(
            f"no zoo policy {', '.join(map(repr, missing))} (sappo-* and atla-* are trained by "
            f"python -m advrl.zoo.train --algo sappo|atla); zoo: {zoo}"
        )
    if "smooth" in defenses and not any("-smooth-" in v for v in victims):
        raise ValueError(f"no smoothed zoo policy for {list(envs)}; zoo: {zoo}")
    return list(dict.fromkeys(victims))


@dataclass(frozen=True)
class LeaderboardSuite:
    training: list[TrainAdversaryCell]
    """Adversaries to train (one per kind, victim and seed)."""
    evaluation: list[Cell]
    """Every victim x attack x seed, and a clean cell per victim and seed."""

    @property
    def cells(self) -> list:
        return [*self.training, *self.evaluation]


def _check_available(names: Iterable[str], training: bool) -> None:
    """Import each learned attack's loader (and trainer): a module that does not exist yet
    is an error now, not after hours of other cells."""
    from advrl.attacks.learned.registry import LEARNED_ATTACKS

    for name in names:
        entry = LEARNED_ATTACKS[name]
        for target in (entry.load, entry.train) if training else (entry.load,):
            module, _, function = target.partition(":")
            try:
                found = hasattr(importlib.import_module(module), function)
            except ImportError as err:
                raise ValueError(f"learned attack {name!r} is not available: {err}") from err
            if not found:
                raise ValueError(f"learned attack {name!r} is not available: no {target}")


def check_settings(
    attacks: Sequence[str],
    eps: float | None,
    seeds: Sequence[int],
    episodes: int,
    adversary_steps: int,
    adversary_options: Mapping[str, Any] | None = None,
) -> None:
    """The checks of :func:`leaderboard_suite` that need no victim (cheap; run them first)."""
    from advrl.attacks.learned.registry import ADVERSARY_KINDS

    check_attack_names(attacks)
    if eps is not None and (not math.isfinite(eps) or eps <= 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    for name, value in (("adversary_steps", adversary_steps), ("episodes", episodes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seeds must be integers >= 0, got {seed!r}")
    for kind in adversary_options or {}:
        if kind not in ADVERSARY_KINDS:
            raise ValueError(
                f"options for unknown adversary kind {kind!r}; allowed: {list(ADVERSARY_KINDS)}"
            )


def _check_victims(victims: Sequence[str], attacks: Sequence[str]) -> None:
    """Zoo victims, and continuous actions where Robust Sarsa attacks (its Q(s, a) needs them;
    its trainer would refuse only once its cell starts)."""
    import gymnasium as gym

    import advrl.zoo

    if not victims:
        raise ValueError("no victims: give at least one zoo policy")
    for victim in victims:
        if victim not in advrl.zoo.names():
            raise KeyError(f"unknown zoo policy {victim!r}; available: {advrl.zoo.names()}")
        sarsa = [a for a in attacks if a in ("rs", "rs_mad")]
        if sarsa:
            env = gym.make(env_of(victim))
            discrete = isinstance(env.action_space, gym.spaces.Discrete)
            env.close()
            if discrete:
                raise ValueError(f"{', '.join(sarsa)} need a continuous-action victim; "
                                 f"{victim!r} has discrete actions")  # fmt: skip


def leaderboard_suite(
    victims: Sequence[str],
    attacks: Sequence[str] = LEADERBOARD_ATTACKS,
    eps: float | None = None,
    seeds: Sequence[int] = (0,),
    episodes: int = 50,
    adversary_steps: int = DEFAULT_ADVERSARY_STEPS,
    use_shipped: bool = True,
    *,
    norm: str = "linf",
    n_envs: int = 10,
    adversary_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> LeaderboardSuite:
    """Training and evaluation cells of a leaderboard; everything is checked before any runs.

    Args:
        victims: zoo names (see :func:`leaderboard_victims` for envs x defenses).
        attacks: attack and learned-attack names (the clean cell is always added).
        eps: budget for every victim (default: each env's standard eps, :data:`STANDARD_EPS`;
            a smoothed victim takes its base env's).
        seeds: evaluation seeds; each also trains its own adversaries.
        episodes: deterministic episodes per evaluation cell.
        adversary_steps: training steps of each learned adversary.
        use_shipped: a learned attack whose shipped adversary fits the victim and budget uses
            it instead of training one.
        adversary_options: adversary kind -> extra trainer keyword arguments.

    Raises:
        KeyError: a victim not in the zoo.
        ValueError: an unknown attack, eps <= 0, steps or episodes < 1, a negative seed, a
            learned attack whose code is missing, or options for an unknown adversary kind.
    """
    from advrl.attacks.learned.registry import LEARNED_ATTACKS
    from advrl.attacks.learned.victims import victim_digest

    check_settings(attacks, eps, seeds, episodes, adversary_steps, adversary_options)
    options = dict(adversary_options or {})
    _check_victims(victims, attacks)
    attacks = [a for a in dict.fromkeys(attacks) if a != "none"]
    learned = [a for a in attacks if a in LEARNED_ATTACKS]
    training: list[TrainAdversaryCell] = []
    evaluation: list[Cell] = []
    to_train: set[str] = set()
    for victim in victims:
        env = env_of(victim)
        budget = eps if eps is not None else STANDARD_EPS.get(base_env(env))
        if budget is None:
            raise ValueError(f"no standard eps for {base_env(env)!r} (victim {victim!r}); "
                             f"give eps (known: {sorted(STANDARD_EPS)})")  # fmt: skip
        shipped = {
            a: use_shipped and shipped_adversary_problem(a, victim, budget, norm) is None
            for a in learned
        }
        digest = victim_digest(victim)
        for seed in seeds:
            evaluation.append(Cell(victim, env, "none", 0.0, seed, episodes, norm, n_envs))
            for attack in attacks:
                adversary = None
                if attack in LEARNED_ATTACKS and not shipped[attack]:
                    kind = LEARNED_ATTACKS[attack].adversary
                    cell = TrainAdversaryCell(
                        kind, victim, float(budget), adversary_steps, norm, seed, digest,
                        tuple(sorted(options.get(kind, {}).items())),
                    )  # fmt: skip
                    training.append(cell)
                    to_train.add(attack)
                    adversary = cell.path
                evaluation.append(Cell(victim, env, attack, float(budget), seed, episodes, norm,
                                       n_envs, adversary))  # fmt: skip
    _check_available(learned, training=False)
    _check_available(to_train, training=True)
    return LeaderboardSuite(list(dict.fromkeys(training)), evaluation)


def run_leaderboard(
    suite: LeaderboardSuite,
    out_dir: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Run a leaderboard into ``out_dir``, resuming: stored adversaries are never retrained.

    First the adversaries (they take longest, so they start first) together with every cell
    that needs no trained adversary, then the cells that attack with a trained one.
    """
    run_dir = str(Path(out_dir).resolve())
    training = [replace(c, run_dir=run_dir) for c in suite.training]
    evaluation = [replace(c, run_dir=run_dir) for c in suite.evaluation]
    first = training + [c for c in evaluation if c.adversary is None]
    later = [c for c in evaluation if c.adversary is not None]
    kw = dict(backend=backend, workers=workers, address=address, progress=progress)
    a = run_suite(first, out_dir, **kw)
    check_adversaries(suite.training, out_dir)
    b = run_suite(later, out_dir, **kw) if later else RunSummary([], [], 0.0)
    return RunSummary(
        computed=a.computed + b.computed,
        skipped=a.skipped + b.skipped,
        seconds=a.seconds + b.seconds,
        elsewhere=a.elsewhere + b.elsewhere,
    )
