"""The ``advrl`` command: list environments and run benchmarks.

Flags come from typed dataclasses (:mod:`advrl.cli_args`); each field's ``help`` becomes
its ``--help`` text. Every flag is checked before any work starts (argparse types and
choices, then the suite's cells are built, which checks their configs); every error reads
``advrl: error: ...``, exit 2.
"""

from __future__ import annotations

import argparse
import sys

from advrl.cli_args import (
    BACKENDS,
    CERTIFY_METHODS,
    NORMS,
    AttacksArgs,
    CertifyArgs,
    CertifySettings,
    CheapTalkArgs,
    HackingArgs,
    LeaderboardArgs,
    OveroptimizationArgs,
    Parser,
    QuickArgs,
    RobustnessArgs,
    SmoothingArgs,
    add_dataclass_args,
    args_from,
    finite_float,
)

__all__ = ["BACKENDS", "CERTIFY_METHODS", "NORMS", "build_parser", "main"]


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


def _run_and_report(
    cells, args, write_report=None, show: str | tuple[str, ...] | None = "markdown"
) -> int:
    """Run ``cells`` into ``args.out`` (resuming), rebuild the report with ``write_report``
    (default: the attack report), print its ``show`` file(s) and a one-line summary."""
    from advrl.bench import run_suite, write_reports

    summary = run_suite(cells, args.out, backend=args.backend, workers=args.workers,
                        address=getattr(args, "address", None))  # fmt: skip
    paths = (write_report or write_reports)(args.out)
    for key in (show,) if isinstance(show, str) else show or ():
        print(paths[key].read_text())
    return _print_summary(summary, paths)


def _print_summary(summary, paths: dict) -> int:
    """The run's one-line summary and where its reports are."""
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

    args: AttacksArgs = args_from(AttacksArgs, ns)
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


def _certify(policies: list[str], args: CertifySettings) -> int:
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
        cells,
        args,
        lambda out: write_certificate_report(out, budgets, args.alpha, args.method),
        show="csv",
    )


def cmd_certify(ns: argparse.Namespace) -> int:
    args: CertifyArgs = args_from(CertifyArgs, ns)
    return _certify([args.policy], args)


def cmd_smoothing(ns: argparse.Namespace) -> int:
    args: SmoothingArgs = args_from(SmoothingArgs, ns)
    return _certify(args.policies, args)


def cmd_robustness(ns: argparse.Namespace) -> int:
    from advrl.bench.robustness import robustness_suite, write_robustness_report
    from advrl.bench.smoothing import parse_budgets

    args: RobustnessArgs = args_from(RobustnessArgs, ns)
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

    args: HackingArgs = args_from(HackingArgs, ns)
    orpo = []
    for spec in args.orpo:
        divergence, sep, coef = spec.partition(":")
        try:
            orpo.append((divergence, finite_float(coef)))
        except argparse.ArgumentTypeError:
            sep = ""
        if not sep or divergence not in DIVERGENCES:
            raise ValueError(
                f"ORPO setting {spec!r} must look like DIVERGENCE:COEF, with DIVERGENCE one of "
                f"{list(DIVERGENCES)} and COEF a number"
            )
    cells = hacking_suite(
        args.testbeds,
        args.action_kl,
        orpo,
        args.seeds,
        args.steps,
        args.orpo_epsilon,
        args.orpo_reward_clip,
    )
    return _run_and_report(cells, args, write_hacking_report)


def cmd_overoptimization(ns: argparse.Namespace) -> int:
    from advrl.bench.overoptimization import (
        overoptimization_suite,
        write_overoptimization_report,
    )

    args: OveroptimizationArgs = args_from(OveroptimizationArgs, ns)
    cells = overoptimization_suite(args.tasks, args.methods, args.seeds, args.ppo_steps,
                                   args.bon_episodes, args.noise, args.members,
                                   args.pairs, args.uwo_lambda)  # fmt: skip
    return _run_and_report(cells, args, write_overoptimization_report)


def cmd_cheap_talk(ns: argparse.Namespace) -> int:
    from advrl.bench.cheap_talk import cheap_talk_suite, write_cheap_talk_report

    args: CheapTalkArgs = args_from(CheapTalkArgs, ns)
    cells = cheap_talk_suite(
        args.methods, args.seeds, args.popsize, args.generations, args.updates, args.victims
    )
    return _run_and_report(cells, args, write_cheap_talk_report)


def cmd_quick(ns: argparse.Namespace) -> int:
    from advrl.bench import quick_suite, write_reports
    from advrl.bench.cells import QUICK_POLICIES, quick_learned_attacks
    from advrl.bench.leaderboard_report import write_leaderboard_report

    args: QuickArgs = args_from(QuickArgs, ns)
    cells = quick_suite(episodes=args.episodes)

    def reports(out):  # the attack table, and the worst case per policy
        leaderboard = write_leaderboard_report(out)
        return write_reports(out) | {f"worst case {k}": v for k, v in leaderboard.items()}

    missing = "; ".join(
        f"{p}: {', '.join(sorted(left_out))}"
        for p in QUICK_POLICIES
        if (left_out := quick_learned_attacks(p)[1])
    )
    if missing:  # quick runs without them; say so before the tables
        print(
            f"learned attacks left out (no shipped adversary for the standard eps): {missing}. "
            "Ship one: python -m advrl.attacks.learned.train --kind optimal --victim P --steps N"
        )
    return _run_and_report(cells, args, reports, show=("markdown", "worst case markdown"))


def cmd_leaderboard(ns: argparse.Namespace) -> int:
    from advrl.bench.leaderboard import (
        check_settings,
        leaderboard_suite,
        leaderboard_victims,
        run_leaderboard,
    )
    from advrl.bench.leaderboard_report import write_leaderboard_report

    args: LeaderboardArgs = args_from(LeaderboardArgs, ns)
    # The flags first, then the zoo: a typo in --eps is not hidden by a missing victim.
    check_settings(args.attacks, args.eps, args.seeds, args.episodes, args.adversary_steps)
    victims = leaderboard_victims(args.envs, args.defenses)
    suite = leaderboard_suite(
        victims, args.attacks, args.eps, args.seeds, args.episodes, args.adversary_steps,
        args.use_shipped, n_envs=args.n_envs,
    )  # fmt: skip
    print(f"{len(victims)} victims ({', '.join(victims)}), {len(suite.training)} adversaries "
          f"to train or reuse, {len(suite.evaluation)} evaluation cells")  # fmt: skip
    summary = run_leaderboard(suite, args.out, backend=args.backend, workers=args.workers,
                              address=args.address)  # fmt: skip
    paths = write_leaderboard_report(args.out)
    print(paths["markdown"].read_text())
    return _print_summary(summary, paths)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="advrl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print every advrl env id and zoo policy").set_defaults(fn=cmd_list)
    bench = sub.add_parser("bench", help="run a benchmark suite").add_subparsers(
        dest="suite", required=True
    )
    suites = (
        ("attacks", AttacksArgs, cmd_attacks),
        ("quick", QuickArgs, cmd_quick),
        ("leaderboard", LeaderboardArgs, cmd_leaderboard),
        ("smoothing", SmoothingArgs, cmd_smoothing),
        ("robustness", RobustnessArgs, cmd_robustness),
        ("hacking", HackingArgs, cmd_hacking),
        ("cheap-talk", CheapTalkArgs, cmd_cheap_talk),
        ("overoptimization", OveroptimizationArgs, cmd_overoptimization),
    )
    for name, cls, fn in suites:
        summary = (cls.__doc__ or "").replace("%", "%%")
        p = bench.add_parser(name, help=summary, description=cls.__doc__)
        add_dataclass_args(p, cls)
        p.set_defaults(fn=fn)
    certify = sub.add_parser("certify", help=CertifyArgs.__doc__, description=CertifyArgs.__doc__)
    add_dataclass_args(certify, CertifyArgs)
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
