"""The ``advrl`` command's flags: typed dataclasses whose field help becomes ``--help``.

Flag types check values at parse time (counts, finite numbers, choices), so a bad flag is
refused before any work starts; the parser reports every error as ``advrl: error: ...``,
exit 2. Nothing here imports torch, so ``advrl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Literals so `--help` needs no import (tests check they match the library's lists).
SMOOTHED_POLICIES = ("ppo-cartpole-smooth-sigma0.2",)
DEFENSES = ("ppo", "sappo", "atla", "smooth")
LEADERBOARD_ENVS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5")
LEADERBOARD_ATTACKS = ("uniform", "critic", "mad", "pgd", "rs", "rs_mad", "optimal", "paad")
NORMS = ("linf", "l2")
BACKENDS = ("local", "ray")
CERTIFY_METHODS = ("dkw", "clopper_pearson")


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    return parse


POSITIVE, COUNT = _at_least(1), _at_least(0)


def finite_float(text: str) -> float:
    """An argparse type: a finite number (``nan`` and ``inf`` are typos here)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _help(text: str, *, parse: Callable[[str], typing.Any] | None = None, choices=None, **kw):
    """A flag: its help text, and optionally an argparse type and choices."""
    return field(metadata={"help": text, "parse": parse, "choices": choices}, **kw)


def _backend():
    return _help("local (process pool) or ray", choices=BACKENDS, default="local")


def _workers(default: int | None = None):
    text = "parallel cells" + (" (default: all cores)" if default is None else "")
    return _help(text, parse=POSITIVE, default=default)


@dataclass
class AttacksArgs:
    """Run policies against observation attacks and write CSV, Markdown and PNG reports."""

    envs: list[str] = _help(
        "env ids; every zoo policy trained on one is attacked", default_factory=list
    )
    policies: list[str] = _help(
        "zoo policy names (added to those picked by --envs)", default_factory=list
    )
    attacks: list[str] = _help(
        "attack names",
        default_factory=lambda: ["uniform", "gaussian", "fgsm", "pgd", "mad", "critic"],
    )
    eps: list[float] = _help(
        "budgets (default: each env's standard eps)", parse=finite_float, default_factory=list
    )
    norm: str = _help("the attack's norm", choices=NORMS, default="linf")
    episodes: int = _help("episodes per cell", parse=POSITIVE, default=50)
    seeds: list[int] = _help("evaluation seeds", parse=COUNT, default_factory=lambda: [0])
    n_envs: int = _help(
        "parallel envs per cell (one batched attack per step)", parse=POSITIVE, default=10
    )
    out: Path = _help(
        "run directory (rerun the same command to resume)", default=Path("runs/attacks")
    )
    backend: str = _backend()
    address: str | None = _help("Ray cluster address (ray backend)", default=None)
    workers: int | None = _workers()


@dataclass
class QuickArgs:
    """The main job: shipped HalfCheetah and Hopper policies vs every attack at the standard eps."""

    out: Path = _help("run directory", default=Path("runs/quick"))
    episodes: int = _help("episodes per cell", parse=POSITIVE, default=10)
    backend: str = _backend()
    workers: int | None = _workers()


@dataclass
class LeaderboardArgs:
    """The robustness leaderboard: defenses x attacks (learned ones included) at the standard
    eps, natural return and the worst case per victim; adversaries are trained as cells."""

    envs: list[str] = _help("MuJoCo tasks", default_factory=lambda: list(LEADERBOARD_ENVS))
    defenses: list[str] = _help(
        "zoo victims <defense>-<env>; smooth: the env's smoothed PPO policies, where shipped",
        choices=DEFENSES, default_factory=lambda: ["ppo", "sappo", "atla"],
    )  # fmt: skip
    attacks: list[str] = _help(
        "attack and learned-attack names", default_factory=lambda: list(LEADERBOARD_ATTACKS)
    )
    eps: float | None = _help(
        "budget for every victim (default: each env's standard eps)", parse=finite_float,
        default=None,
    )  # fmt: skip
    seeds: list[int] = _help(
        "evaluation seeds (each trains its own adversaries)", parse=COUNT,
        default_factory=lambda: [0],
    )  # fmt: skip
    episodes: int = _help("deterministic episodes per cell", parse=POSITIVE, default=50)
    adversary_steps: int = _help(
        "training steps per learned adversary", parse=POSITIVE, default=1_000_000
    )
    use_shipped: bool = _help(
        "attack with a victim's shipped adversary where one fits instead of training one",
        default=True,
    )
    n_envs: int = _help("parallel envs per evaluation cell", parse=POSITIVE, default=10)
    out: Path = _help(
        "run directory (rerun the same command to resume)", default=Path("runs/leaderboard")
    )
    backend: str = _backend()
    address: str | None = _help("Ray cluster address (ray backend)", default=None)
    workers: int | None = _workers()


@dataclass
class CertifySettings:
    """Settings shared by `advrl certify` and `advrl bench smoothing`."""

    sigma: float | None = _help(
        "smoothing std (default: the one it was trained with)", parse=finite_float, default=None
    )
    episodes: int = _help(
        "clean smoothed episodes for the certificate", parse=POSITIVE, default=10_000
    )
    budgets: str = _help("total l2 budgets, start:stop:step or a,b,c", default="0:1:0.1")
    alpha: float = _help("1 - confidence of the bound", parse=finite_float, default=0.05)
    method: str = _help("the bound", choices=CERTIFY_METHODS, default="clopper_pearson")
    attack_episodes: int = _help(
        "episodes per budget under adaptive PGD (0: skip)", parse=COUNT, default=200
    )
    seed: int = _help("seed", parse=COUNT, default=0)
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/certify"))
    backend: str = _backend()
    workers: int | None = _workers()


@dataclass
class CertifyArgs(CertifySettings):
    """Certify a smoothed zoo policy: bound on the attacked return vs the total l2 budget."""

    policy: str = _help("smoothed zoo policy", default=SMOOTHED_POLICIES[0])


@dataclass
class SmoothingArgs(CertifySettings):
    """The smoothing suite: certify every shipped smoothed policy and check the bound."""

    policies: list[str] = _help(
        "smoothed zoo policies", default_factory=lambda: list(SMOOTHED_POLICIES)
    )
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/smoothing"))


@dataclass
class RobustnessArgs:
    """A protagonist's return over a mass x friction grid (heatmap PNG + CSV)."""

    models: list[str] = _help(
        "LABEL=ALGO:PATH per saved SB3 protagonist (trusted files only), "
        "e.g. rarl=PPO:runs/rarl/protagonist.zip",
        default_factory=list,
    )
    env: str = _help("the MuJoCo task", default="InvertedPendulum-v5")
    mass: str = _help("mass multipliers, start:stop:step or a,b,c", default="0.5:1.5:0.1")
    friction: str = _help("friction multipliers, start:stop:step or a,b,c", default="0.5:1.5:0.1")
    bodies: list[str] = _help("bodies to scale (default: all)", default_factory=list)
    episodes: int = _help("episodes per grid point", parse=POSITIVE, default=5)
    seed: int = _help("evaluation seed", parse=COUNT, default=0)
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/robustness"))
    backend: str = _backend()
    address: str | None = _help("Ray cluster address (ray backend)", default=None)
    workers: int | None = _workers()


@dataclass
class HackingArgs:
    """Reward hacking: PPO on the proxy vs action-KL and ORPO; true and proxy returns."""

    testbeds: list[str] = _help("testbed ids", default_factory=lambda: ["advrl/Tomato-v0"])
    action_kl: list[float] = _help(
        "action-KL coefficients", parse=finite_float, default_factory=lambda: [0.1, 1.0]
    )
    orpo: list[str] = _help(
        "ORPO settings DIVERGENCE:COEF",
        default_factory=lambda: ["sqrt_chi2:0.05", "sqrt_chi2:0.2", "chi2:0.1"],
    )
    seeds: list[int] = _help("training seeds", parse=COUNT, default_factory=lambda: [0, 1, 2])
    steps: int = _help("env steps per training run", parse=POSITIVE, default=200_000)
    orpo_epsilon: list[float] = _help(
        "random-action rates of ORPO's reference (0 on a MuJoCo testbed = action-KL's reference)",
        parse=finite_float, default_factory=lambda: [0.1],
    )  # fmt: skip
    orpo_reward_clip: float | None = _help(
        "clip ORPO's penalised reward to [-C, C] (default: no clipping)", parse=finite_float,
        default=None,
    )  # fmt: skip
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/hacking"))
    backend: str = _backend()
    workers: int | None = _workers()


@dataclass
class OveroptimizationArgs:
    """Reward-model overoptimisation: PPO and best-of-n against learned rewards (single RM,
    mean, WCO, UWO ensembles); gold (true) vs proxy return."""

    tasks: list[str] = _help("tasks", default_factory=lambda: ["advrl/Tomato-v0", "HalfCheetah-v5"])
    methods: list[str] = _help("ppo and/or bon (best-of-n)", default_factory=lambda: ["ppo", "bon"])
    seeds: list[int] = _help(
        "seeds (preference data, reward models, PPO)", parse=COUNT, default_factory=lambda: [0]
    )
    ppo_steps: int = _help("PPO env steps per run (0: the task's default)", parse=COUNT, default=0)
    bon_episodes: int = _help(
        "best-of-n pool size in episodes (0: the task's default)", parse=COUNT, default=0
    )
    noise: float = _help("preference label flip probability", parse=finite_float, default=0.25)
    members: int = _help("reward models in the ensemble", parse=_at_least(2), default=5)
    pairs: int = _help("labelled segment pairs (20% held out)", parse=_at_least(2), default=2000)
    uwo_lambda: float | None = _help(
        "UWO's lambda (default: 0.1 for PPO, 0.5 for best-of-n, Coste et al.)", parse=finite_float,
        default=None,
    )  # fmt: skip
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/overoptimization"))
    backend: str = _backend()
    workers: int | None = _workers()


@dataclass
class CheapTalkArgs:
    """Cheap talk (ACT): PPO victims with no, random, ACT-anti and ACT-pro messages; control."""

    methods: list[str] = _help(
        "none, random, random-adversary, act-anti, act-pro, act-control",
        default_factory=lambda: [
            "none",
            "random",
            "random-adversary",
            "act-anti",
            "act-pro",
            "act-control",
        ],  # fmt: skip
    )
    seeds: list[int] = _help("ACT / evaluation seeds", parse=COUNT, default_factory=lambda: [0, 1])
    popsize: int = _help("ES population (even, >= 2): victims per generation", default=32)
    generations: int = _help("ES generations", parse=POSITIVE, default=20)
    updates: int = _help(
        "PPO updates per victim (4 envs x 128 steps each)", parse=POSITIVE, default=16
    )
    victims: int = _help(
        "fresh victims trained to evaluate each message source", parse=POSITIVE, default=32
    )
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/cheap_talk"))
    backend: str = _backend()
    workers: int | None = _workers(default=1)


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        kwargs: dict = {"help": f.metadata.get("help", "")}
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):  # X | None
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
            origin = typing.get_origin(hint)
        if origin is list:
            kwargs["nargs"] = "+"
            hint = typing.get_args(hint)[0]
        if hint is bool:  # --flag / --no-flag
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = f.metadata.get("parse") or hint
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        if f.default is not dataclasses.MISSING:
            kwargs["default"] = f.default
        else:
            kwargs["default"] = f.default_factory()  # type: ignore[misc]  # fields always have one
        if kwargs["default"] not in (None, []):
            kwargs["help"] += f" (default: {kwargs['default']})"
        kwargs["help"] = kwargs["help"].replace("%", "%%")  # argparse %-formats help strings
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **kwargs)


class Parser(argparse.ArgumentParser):
    """Parse errors in the one format of every advrl error (no usage block, exit 2)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"advrl: error: {message}\n")


def args_from(cls, ns: argparse.Namespace):
    return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)})
