"""The ``advrl`` command: list environments and run benchmarks.

tyro builds the command line from the typed dataclasses in :mod:`advrl.cli_args`; each
field's docstring is its ``--help``. Every flag is checked before any work starts (flag
types and choices at parse time, then the suite's cells are built, which checks their
configs); every error reads ``advrl: error: ...``, exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union

import tyro

from advrl.cli_args import (
    BACKENDS,
    CERTIFY_METHODS,
    NORMS,
    AdversarialPoliciesArgs,
    AttacksArgs,
    CertifyArgs,
    CertifySettings,
    CheapTalkArgs,
    ConstrainedArgs,
    CriticLipschitzArgs,
    HackingArgs,
    ImitationArgs,
    LeaderboardArgs,
    OveroptimizationArgs,
    QuickArgs,
    RewardDistancesArgs,
    RewardRobustnessArgs,
    RobustnessArgs,
    RunSettings,
    SmoothingArgs,
    TargetedArgs,
)
from advrl.cli_types import UsageError, did_you_mean, finite, flags_of, one_line_errors

__all__ = ["BACKENDS", "CERTIFY_METHODS", "COMMANDS", "NORMS", "main", "parse"]


@dataclass
class ListArgs:
    """Print every advrl env id and zoo policy."""


def cmd_list(_args: ListArgs) -> int:
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


def _check_run(run: RunSettings) -> None:
    """The settings every command that runs cells shares, checked before anything runs."""
    if run.out.exists() and not run.out.is_dir():
        raise ValueError(f"--out {str(run.out)!r} is a file; give a run directory")
    if run.address is not None and run.backend != "ray":
        raise ValueError(f"--address applies to --backend ray only, got --backend {run.backend}")
    from advrl.bench.backends import check_backend

    check_backend(run.backend)  # e.g. ray: is it installed?


def _run_and_report(
    cells, run: RunSettings, write_report=None, show: str | tuple[str, ...] | None = "markdown"
) -> int:
    """Run ``cells`` into ``run.out`` (resuming), rebuild the report with ``write_report``
    (default: the attack report), print its ``show`` file(s) and a one-line summary."""
    from advrl.bench import run_suite, write_reports

    summary = run_suite(cells, run.out, backend=run.backend, workers=run.workers,
                        address=run.address)  # fmt: skip
    paths = (write_report or write_reports)(run.out)
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


def cmd_attacks(args: AttacksArgs) -> int:
    import advrl.zoo
    from advrl.bench import attack_suite
    from advrl.bench.cells import env_of

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
    return _run_and_report(cells, args.run)


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
        args.run,
        lambda out: write_certificate_report(out, budgets, args.alpha, args.method),
        show="csv",
    )


def cmd_certify(args: CertifyArgs) -> int:
    return _certify([args.policy], args)


def cmd_smoothing(args: SmoothingArgs) -> int:
    return _certify(args.policies, args)


def cmd_robustness(args: RobustnessArgs) -> int:
    from advrl.bench.robustness import robustness_suite, write_robustness_report
    from advrl.bench.smoothing import parse_budgets

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
    return _run_and_report(cells, args.run, write_robustness_report, show=None)


def cmd_hacking(args: HackingArgs) -> int:
    from advrl.agents.orpo import DIVERGENCES
    from advrl.bench.hacking import hacking_suite, write_hacking_report

    orpo = []
    for spec in args.orpo:
        divergence, sep, coef = spec.partition(":")
        try:
            orpo.append((divergence, finite(coef)))
        except ValueError:
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
    return _run_and_report(cells, args.run, write_hacking_report)


def cmd_overoptimization(args: OveroptimizationArgs) -> int:
    from advrl.bench.overoptimization import (
        overoptimization_suite,
        write_overoptimization_report,
    )

    cells = overoptimization_suite(args.tasks, args.methods, args.seeds, args.ppo_steps,
                                   args.bon_episodes, args.noise, args.members,
                                   args.pairs, args.uwo_lambda)  # fmt: skip
    return _run_and_report(cells, args.run, write_overoptimization_report)


def cmd_reward_distances(args: RewardDistancesArgs) -> int:
    from advrl.bench.reward_distances import reward_distances_suite
    from advrl.bench.reward_distances_report import write_reward_distances_report

    cells = reward_distances_suite(args.seeds, args.pairs, args.noise, args.n_mean_samples)
    return _run_and_report(
        cells, args.run, lambda out: write_reward_distances_report(out, n_boot=args.n_boot)
    )


def cmd_reward_robustness(args: RewardRobustnessArgs) -> int:
    from advrl.bench.reward_robustness import reward_robustness_suite
    from advrl.bench.reward_robustness_report import write_reward_robustness_report

    common = (args.gp_site, args.episodes, args.pairs, args.noise)
    cells = [
        cell
        for k in args.gp_targets
        for cell in reward_robustness_suite(
            args.tasks, args.seeds, args.eps, args.regularizers, args.gp_weight, k, *common
        )
    ]
    return _run_and_report(cells, args.run, write_reward_robustness_report)


def cmd_critic_lipschitz(args: CriticLipschitzArgs) -> int:
    from advrl.bench.critic_lipschitz import critic_lipschitz_suite
    from advrl.bench.critic_lipschitz_report import write_critic_lipschitz_report

    cells = critic_lipschitz_suite(args.envs, args.variants, args.seeds, args.steps,
                                   episodes=args.episodes)  # fmt: skip
    return _run_and_report(cells, args.run, write_critic_lipschitz_report)


def cmd_constrained(args: ConstrainedArgs) -> int:
    from advrl.bench.constrained import constrained_suite
    from advrl.bench.constrained_report import write_constrained_report

    cells = constrained_suite(args.tasks, args.seeds, args.steps, args.pairs, args.noise,
                              args.multiplier_lr)  # fmt: skip
    return _run_and_report(cells, args.run, write_constrained_report)


def cmd_adversarial_policies(args: AdversarialPoliciesArgs) -> int:
    from advrl.bench.adversarial_policies import adversarial_policies_suite
    from advrl.bench.adversarial_policies_report import write_adversarial_policies_report

    cells = adversarial_policies_suite(args.games, args.budgets, args.seeds, args.steps,
                                       args.episodes, args.defenses, args.mode,
                                       args.defense_rounds, args.attacker_ratio)  # fmt: skip
    return _run_and_report(cells, args.run, write_adversarial_policies_report)


def cmd_imitation(args: ImitationArgs) -> int:
    from advrl.bench.imitation import imitation_suite
    from advrl.bench.imitation_report import write_imitation_report

    cells = imitation_suite(args.tasks, args.seeds, args.steps, args.arms, args.demo_episodes)
    return _run_and_report(cells, args.run, write_imitation_report)


def cmd_targeted(args: TargetedArgs) -> int:
    from advrl.bench.targeted import targeted_suite
    from advrl.bench.targeted_report import write_targeted_report

    cells = targeted_suite(
        args.victims, args.targets, args.seeds, eps=args.eps,
        intention_steps=args.intention_steps, adversary_steps=args.adversary_steps,
        ablation_steps=args.ablation_steps, throughput_steps=args.throughput_steps,
        episodes=args.episodes,
    )  # fmt: skip
    return _run_and_report(cells, args.run, write_targeted_report)


def cmd_cheap_talk(args: CheapTalkArgs) -> int:
    from advrl.bench.cheap_talk import cheap_talk_suite, write_cheap_talk_report

    cells = cheap_talk_suite(
        args.methods, args.seeds, args.popsize, args.generations, args.updates, args.victims
    )
    return _run_and_report(cells, args.run, write_cheap_talk_report)


def cmd_quick(args: QuickArgs) -> int:
    from advrl.bench import quick_suite, write_reports
    from advrl.bench.cells import QUICK_POLICIES, quick_learned_attacks
    from advrl.bench.leaderboard_report import write_leaderboard_report

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
    return _run_and_report(cells, args.run, reports, show=("markdown", "worst case markdown"))


def cmd_leaderboard(args: LeaderboardArgs) -> int:
    from advrl.bench.leaderboard import (
        check_settings,
        leaderboard_suite,
        leaderboard_victims,
        run_leaderboard,
    )
    from advrl.bench.leaderboard_report import write_leaderboard_report

    # The flags first, then the zoo: a typo in --eps is not hidden by a missing victim.
    check_settings(args.attacks, args.eps, args.seeds, args.episodes, args.adversary_steps)
    victims = leaderboard_victims(args.envs, args.defenses)
    suite = leaderboard_suite(
        victims, args.attacks, args.eps, args.seeds, args.episodes, args.adversary_steps,
        args.use_shipped, n_envs=args.n_envs,
    )  # fmt: skip
    print(f"{len(victims)} victims ({', '.join(victims)}), {len(suite.training)} adversaries "
          f"to train or reuse, {len(suite.evaluation)} evaluation cells")  # fmt: skip
    run = args.run
    summary = run_leaderboard(suite, run.out, backend=run.backend, workers=run.workers,
                              address=run.address)  # fmt: skip
    paths = write_leaderboard_report(run.out)
    print(paths["markdown"].read_text())
    return _print_summary(summary, paths)


BENCH_SUITES: dict[str, tuple[type, Callable[[Any], int]]] = {
    "attacks": (AttacksArgs, cmd_attacks),
    "quick": (QuickArgs, cmd_quick),
    "leaderboard": (LeaderboardArgs, cmd_leaderboard),
    "smoothing": (SmoothingArgs, cmd_smoothing),
    "robustness": (RobustnessArgs, cmd_robustness),
    "hacking": (HackingArgs, cmd_hacking),
    "cheap-talk": (CheapTalkArgs, cmd_cheap_talk),
    "overoptimization": (OveroptimizationArgs, cmd_overoptimization),
    "reward-distances": (RewardDistancesArgs, cmd_reward_distances),
    "reward-robustness": (RewardRobustnessArgs, cmd_reward_robustness),
    "critic-lipschitz": (CriticLipschitzArgs, cmd_critic_lipschitz),
    "constrained": (ConstrainedArgs, cmd_constrained),
    "adversarial-policies": (AdversarialPoliciesArgs, cmd_adversarial_policies),
    "imitation": (ImitationArgs, cmd_imitation),
    "targeted": (TargetedArgs, cmd_targeted),
}
"""``advrl bench <name>``: its flags and what runs them."""

COMMANDS: dict[str, tuple[type, Callable[[Any], int]]] = {
    "list": (ListArgs, cmd_list),
    **{f"bench {name}": entry for name, entry in BENCH_SUITES.items()},
    "certify": (CertifyArgs, cmd_certify),
}
"""Every command line, ``advrl <name> ...``: its flags and what runs them."""

BenchSuite = Union[  # noqa: UP007  # built from a tuple: `|` has no such spelling
    tuple(
        Annotated[cls, tyro.conf.subcommand(name, prefix_name=False)]
        for name, (cls, _) in BENCH_SUITES.items()
    )
]


@dataclass
class BenchArgs:
    """Run a benchmark suite."""

    suite: BenchSuite


CommandLine = (
    Annotated[ListArgs, tyro.conf.subcommand("list")]
    | Annotated[
        BenchArgs,
        # The top-level help lists every command: bench's line names its suites.
        tyro.conf.subcommand(
            "bench", description="Run a benchmark suite: " + ", ".join(BENCH_SUITES) + "."
        ),
    ]
    | Annotated[CertifyArgs, tyro.conf.subcommand("certify")]
)


def _command_of(argv: Sequence[str]) -> type | None:
    """The flags class that ``argv``'s command words name; ``None`` before they name one.

    Raises:
        UsageError: a missing command, or a word that names none (argparse's wording; tyro
            would call the latter an unrecognized argument).
    """

    def named(level: str, position: int, names: Sequence[str]) -> str | None:
        listed = ", ".join(repr(n) for n in names)
        if len(argv) <= position:
            raise UsageError(
                f"the following arguments are required: {level} (choose from {listed})"
            )
        if argv[position].startswith("-"):
            return None
        if argv[position] not in names:
            raise UsageError(
                f"argument {level}: invalid choice: {argv[position]!r} (choose from {listed})"
            )
        return argv[position]

    command = named("command", 0, list(dict.fromkeys(name.split()[0] for name in COMMANDS)))
    if command != "bench":
        return COMMANDS[command][0] if command else None
    suite = named("suite", 1, list(BENCH_SUITES))
    return BENCH_SUITES[suite][0] if suite else None


def parse(argv: Sequence[str] | None = None) -> Any:
    """The flags of ``advrl argv`` (default: ``sys.argv[1:]``), parsed and type-checked.

    Returns the command's flags dataclass (e.g. :class:`~advrl.cli_args.AttacksArgs` for
    ``bench attacks``); runs nothing.

    Raises:
        UsageError: a flag the command line refuses, in argparse's words.

    Example:
        >>> from advrl.cli import parse
        >>> args = parse(["bench", "attacks", "--envs", "Hopper-v5", "--eps", "0.05", "0.1"])
        >>> args.envs, args.eps, args.run.out
        (['Hopper-v5'], [0.05, 0.1], PosixPath('runs/attacks'))
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    cls = _command_of(argv)
    try:
        with one_line_errors():
            args = tyro.cli(
                CommandLine,
                prog="advrl",
                description="The advrl command: list environments and run benchmarks.",
                args=argv,
                # `--out`, not `--run.out`: the shared settings read as the command's own.
                config=(tyro.conf.OmitArgPrefixes,),
            )
    except UsageError as err:
        raise did_you_mean(err, flags_of(cls) if cls else []) from None
    return args.suite if isinstance(args, BenchArgs) else args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(argv)
    except UsageError as err:  # as argparse does: print, then exit 2
        print(f"advrl: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    run_command = next(fn for cls, fn in COMMANDS.values() if type(args) is cls)
    try:
        if isinstance(getattr(args, "run", None), RunSettings):
            _check_run(args.run)
        return run_command(args)
    except (ValueError, KeyError, ImportError, OSError) as err:
        # str(KeyError) quotes its message; show the message itself.
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"advrl: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
