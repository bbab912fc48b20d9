"""The ``advrl`` command: list environments and run benchmarks.

Flags come from typed dataclasses; each field's ``help`` becomes its ``--help`` text. Every
flag is checked before any work starts (argparse types and choices, then the suite's cells
are built, which checks their configs); every error reads ``advrl: error: ...``, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Literals so `--help` needs no import (tests check they match the library's lists).
SMOOTHED_POLICIES = ("ppo-cartpole-smooth-sigma0.2",)
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


def _finite(text: str) -> float:
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
        "budgets (default: each env's standard eps)", parse=_finite, default_factory=list
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
class _CertifySettings:
    """Settings shared by `advrl certify` and `advrl bench smoothing`."""

    sigma: float | None = _help(
        "smoothing std (default: the one it was trained with)", parse=_finite, default=None
    )
    episodes: int = _help(
        "clean smoothed episodes for the certificate", parse=POSITIVE, default=10_000
    )
    budgets: str = _help("total l2 budgets, start:stop:step or a,b,c", default="0:1:0.1")
    alpha: float = _help("1 - confidence of the bound", parse=_finite, default=0.05)
    method: str = _help("the bound", choices=CERTIFY_METHODS, default="clopper_pearson")
    attack_episodes: int = _help(
        "episodes per budget under adaptive PGD (0: skip)", parse=COUNT, default=200
    )
    seed: int = _help("seed", parse=COUNT, default=0)
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/certify"))
    backend: str = _backend()
    workers: int | None = _workers()


@dataclass
class CertifyArgs(_CertifySettings):
    """Certify a smoothed zoo policy: bound on the attacked return vs the total l2 budget."""

    policy: str = _help("smoothed zoo policy", default=SMOOTHED_POLICIES[0])


@dataclass
class SmoothingArgs(_CertifySettings):
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
        "action-KL coefficients", parse=_finite, default_factory=lambda: [0.1, 1.0]
    )
    orpo: list[str] = _help(
        "ORPO settings DIVERGENCE:COEF",
        default_factory=lambda: ["sqrt_chi2:0.05", "sqrt_chi2:0.2", "chi2:0.1"],
    )
    seeds: list[int] = _help("training seeds", parse=COUNT, default_factory=lambda: [0, 1, 2])
    steps: int = _help("env steps per training run", parse=POSITIVE, default=200_000)
    orpo_epsilon: list[float] = _help(
        "random-action rates of ORPO's reference (0 on a MuJoCo testbed = action-KL's reference)",
        parse=_finite, default_factory=lambda: [0.1],
    )  # fmt: skip
    orpo_reward_clip: float | None = _help(
        "clip ORPO's penalised reward to [-C, C] (default: no clipping)", parse=_finite,
        default=None,
    )  # fmt: skip
    out: Path = _help("run directory (rerun to resume)", default=Path("runs/hacking"))
    backend: str = _backend()
    workers: int | None = _workers()


@dataclass
class OveroptimizationArgs:
    """Reward-model overoptimisation: PPO and best-of-n against learned rewards (single RM,
    mean, WCO, UWO ensembles); gold (true) vs proxy return."""

    tasks: list[str] = _help(
        "tasks", default_factory=lambda: ["advrl/Tomato-v0", "HalfCheetah-v5"]
    )
    methods: list[str] = _help("ppo and/or bon (best-of-n)", default_factory=lambda: ["ppo", "bon"])
    seeds: list[int] = _help(
        "seeds (preference data, reward models, PPO)", parse=COUNT, default_factory=lambda: [0]
    )
    ppo_steps: int = _help("PPO env steps per run (0: the task's default)", parse=COUNT, default=0)
    bon_episodes: int = _help(
        "best-of-n pool size in episodes (0: the task's default)", parse=COUNT, default=0
    )
    noise: float = _help("preference label flip probability", parse=_finite, default=0.25)
    members: int = _help("reward models in the ensemble", parse=_at_least(2), default=5)
    pairs: int = _help("labelled segment pairs (20% held out)", parse=_at_least(2), default=2000)
    uwo_lambda: float | None = _help(
        "UWO's lambda (default: 0.1 for PPO, 0.5 for best-of-n, Coste et al.)", parse=_finite,
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
        default_factory=lambda: ["none", "random", "random-adversary", "act-anti", "act-pro",
                                 "act-control"],  # fmt: skip
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


def _add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
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


class _Parser(argparse.ArgumentParser):
    """Parse errors in the one format of every advrl error (no usage block, exit 2)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"advrl: error: {message}\n")


def _parse(cls, ns: argparse.Namespace):
    return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)})


def cmd_list(_ns: argparse.Namespace) -> int:
    import advrl.zoo
    from advrl.registration import all_entries

    width = max(len(e.id) for _, e in all_entries())
    print("Environments (gym.make / pettingzoo.make('parallel', ...)):")
    for kind, entry in all_entries():
        print(f"  {entry.id:<{width}}  [{kind}] {entry.description}")
    print("\nZoo policies (advrl.zoo.load):")
    for name in advrl.zoo.names():
        print(f"  {name}")
    return 0


def _check_run(ns: argparse.Namespace) -> None:
    """The flags every bench command shares, checked before anything is built or run."""
    from advrl.bench.backends import check_backend

    out = getattr(ns, "out", None)
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; give a run directory")
    if getattr(ns, "address", None) is not None and ns.backend != "ray":
        raise ValueError(f"--address applies to --backend ray only, got --backend {ns.backend}")
    if hasattr(ns, "backend"):
        check_backend(ns.backend)  # e.g. ray: is it installed?


def _run_and_report(cells, args, write_report=None, show: str | None = "markdown") -> int:
    """Run ``cells`` into ``args.out`` (resuming), rebuild the report with ``write_report``
    (default: the attack report), print its ``show`` file and a one-line summary."""
    from advrl.bench import run_suite, write_reports

    summary = run_suite(cells, args.out, backend=args.backend, workers=args.workers,
                        address=getattr(args, "address", None))  # fmt: skip
    paths = (write_report or write_reports)(args.out)
    if show is not None:
        print(paths[show].read_text())
    elsewhere = f", {len(summary.elsewhere)} by another run" if summary.elsewhere else ""
    print(
        f"{len(summary.computed)} cells computed, {len(summary.skipped)} resumed from the store"
        f"{elsewhere}, in {summary.seconds:.1f} s"
    )
    print("reports: " + ", ".join(str(p) for p in paths.values() if p.exists()))
    return 0


def cmd_attacks(ns: argparse.Namespace) -> int:
    import advrl.zoo
    from advrl.bench import attack_suite
    from advrl.bench.cells import env_of

    args: AttacksArgs = _parse(AttacksArgs, ns)
    policies = list(args.policies)
    for env in args.envs:
        matching = [p for p in advrl.zoo.names() if env_of(p) == env]
        if not matching:
            raise ValueError(f"no zoo policy for env {env!r}; zoo: {advrl.zoo.names()}")
        policies += matching
    if not policies:
        raise ValueError("give --envs or --policies")
    cells = attack_suite(
        list(dict.fromkeys(policies)), args.attacks, args.eps or None, args.seeds,
        args.episodes, args.n_envs, args.norm,
    )  # fmt: skip
    return _run_and_report(cells, args)


def _certify(policies: list[str], args: _CertifySettings) -> int:
    from advrl.agents.smoothing.certify import min_episodes
    from advrl.bench.smoothing import parse_budgets, smoothing_suite, write_certificate_report

    budgets = parse_budgets(args.budgets)
    if args.episodes < min_episodes(args.alpha, args.method):  # checks alpha and method too
        raise ValueError(
            f"{args.episodes} episodes are too few for alpha={args.alpha}; "
            f"need at least {min_episodes(args.alpha, args.method)}"
        )
    cells = smoothing_suite(
        policies, budgets if args.attack_episodes > 0 else [], sigma=args.sigma,
        clean_episodes=args.episodes, attack_episodes=max(args.attack_episodes, 1),
        seed=args.seed,
    )  # fmt: skip
    return _run_and_report(
        cells, args, lambda out: write_certificate_report(out, budgets, args.alpha, args.method),
        show="csv",
    )


def cmd_certify(ns: argparse.Namespace) -> int:
    args: CertifyArgs = _parse(CertifyArgs, ns)
    return _certify([args.policy], args)


def cmd_smoothing(ns: argparse.Namespace) -> int:
    args: SmoothingArgs = _parse(SmoothingArgs, ns)
    return _certify(args.policies, args)


def cmd_robustness(ns: argparse.Namespace) -> int:
    from advrl.bench.robustness import robustness_suite, write_robustness_report
    from advrl.bench.smoothing import parse_budgets

    args: RobustnessArgs = _parse(RobustnessArgs, ns)
    models = {}
    for spec in args.models:
        label, sep, rest = spec.partition("=")
        algo, sep2, path = rest.partition(":")
        if not (sep and sep2 and label and algo and path):
            raise ValueError(f"model {spec!r} must look like LABEL=ALGO:PATH")
        models[label] = (algo, path)
    if not models:
        raise ValueError("give at least one --models LABEL=ALGO:PATH")
    cells = robustness_suite(
        models, args.env, parse_budgets(args.mass), parse_budgets(args.friction),
        bodies=tuple(args.bodies) or None, episodes=args.episodes, seed=args.seed,
    )  # fmt: skip
    return _run_and_report(cells, args, write_robustness_report, show=None)


def cmd_hacking(ns: argparse.Namespace) -> int:
    from advrl.agents.orpo import DIVERGENCES
    from advrl.bench.hacking import hacking_suite, write_hacking_report

    args: HackingArgs = _parse(HackingArgs, ns)
    orpo = []
    for spec in args.orpo:
        divergence, sep, coef = spec.partition(":")
        try:
            orpo.append((divergence, _finite(coef)))
        except argparse.ArgumentTypeError:
            sep = ""
        if not sep or divergence not in DIVERGENCES:
            raise ValueError(
                f"ORPO setting {spec!r} must look like DIVERGENCE:COEF, with DIVERGENCE one of "
                f"{list(DIVERGENCES)} and COEF a number"
            )
    cells = hacking_suite(
        args.testbeds, args.action_kl, orpo, args.seeds, args.steps, args.orpo_epsilon,
        args.orpo_reward_clip,
    )
    return _run_and_report(cells, args, write_hacking_report)


def cmd_overoptimization(ns: argparse.Namespace) -> int:
    from advrl.bench.overoptimization import (
        overoptimization_suite,
        write_overoptimization_report,
    )

    args: OveroptimizationArgs = _parse(OveroptimizationArgs, ns)
    cells = overoptimization_suite(args.tasks, args.methods, args.seeds, args.ppo_steps,
                                   args.bon_episodes, args.noise, args.members,
                                   args.pairs, args.uwo_lambda)  # fmt: skip
    return _run_and_report(cells, args, write_overoptimization_report)


def cmd_cheap_talk(ns: argparse.Namespace) -> int:
    from advrl.bench.cheap_talk import cheap_talk_suite, write_cheap_talk_report

    args: CheapTalkArgs = _parse(CheapTalkArgs, ns)
    cells = cheap_talk_suite(
        args.methods, args.seeds, args.popsize, args.generations, args.updates, args.victims
    )
    return _run_and_report(cells, args, write_cheap_talk_report)


def cmd_quick(ns: argparse.Namespace) -> int:
    from advrl.bench import quick_suite

    args: QuickArgs = _parse(QuickArgs, ns)
    cells = quick_suite(episodes=args.episodes)
    return _run_and_report(cells, args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="advrl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print every advrl env id and zoo policy").set_defaults(fn=cmd_list)
    bench = sub.add_parser("bench", help="run a benchmark suite").add_subparsers(
        dest="suite", required=True
    )
    suites = (
        ("attacks", AttacksArgs, cmd_attacks),
        ("quick", QuickArgs, cmd_quick),
        ("smoothing", SmoothingArgs, cmd_smoothing),
        ("robustness", RobustnessArgs, cmd_robustness),
        ("hacking", HackingArgs, cmd_hacking),
        ("cheap-talk", CheapTalkArgs, cmd_cheap_talk),
        ("overoptimization", OveroptimizationArgs, cmd_overoptimization),
    )
    for name, cls, fn in suites:
        summary = (cls.__doc__ or "").replace("%", "%%")
        p = bench.add_parser(name, help=summary, description=cls.__doc__)
        _add_dataclass_args(p, cls)
        p.set_defaults(fn=fn)
    certify = sub.add_parser("certify", help=CertifyArgs.__doc__, description=CertifyArgs.__doc__)
    _add_dataclass_args(certify, CertifyArgs)
    certify.set_defaults(fn=cmd_certify)
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        _check_run(ns)
        return ns.fn(ns)
    except (ValueError, KeyError, ImportError, OSError) as err:
        # str(KeyError) quotes its message; show the message itself.
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"advrl: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
