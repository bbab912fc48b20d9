"""The ``advrl`` command's flags: typed dataclasses whose field docstrings become ``--help``.

tyro builds the command line from them (CleanRL's ``Args`` style). The settings every
command that runs cells shares (``--out``, ``--backend``, ``--address``, ``--workers``) are
:class:`RunSettings`, one field of each command's flags. Flag types check values at parse
time (:mod:`advrl.cli_types`), so a bad flag is refused before any work starts. Nothing here
imports torch, so ``advrl --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, get_args

from advrl.cli_types import (
    Count,
    Counts,
    Finite,
    Finites,
    Names,
    OptionalFinite,
    OptionalPositive,
    Positive,
    choice,
    default_is,
    integer,
    many,
    one,
)

Norm = Literal["linf", "l2"]
Backend = Literal["local", "ray"]
CertifyMethod = Literal["dkw", "clopper_pearson"]
Defense = Literal["ppo", "sappo", "atla", "smooth"]

# Literals so `--help` needs no import (tests check they match the library's lists).
NORMS: tuple[str, ...] = get_args(Norm)
BACKENDS: tuple[str, ...] = get_args(Backend)
CERTIFY_METHODS: tuple[str, ...] = get_args(CertifyMethod)
DEFENSES: tuple[str, ...] = get_args(Defense)
SMOOTHED_POLICIES = ("ppo-cartpole-smooth-sigma0.2",)
LEADERBOARD_ENVS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5")
LEADERBOARD_ATTACKS = ("uniform", "critic", "mad", "pgd", "rs", "rs_mad", "optimal", "paad")

OptionalName = Annotated[str | None, one(str, "STR", optional=True)]
Defenses = Annotated[list[Defense], many(choice(DEFENSES), "{" + ",".join(DEFENSES) + "}")]
AtLeastTwo = Annotated[int, one(integer(2), "INT")]
Integer = Annotated[int, one(integer(), "INT")]


def _all_cores(default: str) -> str:
    return "all cores" if default == "None" else default


@dataclass
class RunSettings:
    """Where and how the cells run (every command that runs cells takes these)."""

    out: Path = Path("runs")
    """run directory (rerun the same command to resume)"""
    backend: Backend = "local"
    """local (process pool) or ray"""
    address: Annotated[OptionalName, default_is("a new local Ray instance")] = None
    """Ray cluster address, e.g. ray://head:10001 (--backend ray only)"""
    workers: Annotated[OptionalPositive, default_is(_all_cores)] = None
    """parallel cells"""


def _runs_in(out: str, workers: int | None = None):
    """The :class:`RunSettings` field of a command whose run directory is ``out``."""
    return field(default_factory=lambda: RunSettings(Path(out), workers=workers))


def _default(*values):
    return field(default_factory=lambda: list(values))


@dataclass
class AttacksArgs:
    """Run policies against observation attacks and write CSV, Markdown and PNG reports."""

    envs: Annotated[Names, default_is("none")] = _default()
    """env ids; every zoo policy trained on one is attacked"""
    policies: Annotated[Names, default_is("none")] = _default()
    """zoo policy names (added to those picked by --envs)"""
    attacks: Names = _default("uniform", "gaussian", "fgsm", "pgd", "mad", "critic")
    """attack names"""
    eps: Annotated[Finites, default_is("each env's standard eps")] = _default()
    """budgets"""
    norm: Norm = "linf"
    """the attack's norm"""
    episodes: Positive = 50
    """episodes per cell"""
    seeds: Counts = _default(0)
    """evaluation seeds"""
    n_envs: Positive = 10
    """parallel envs per cell (one batched attack per step)"""
    run: RunSettings = _runs_in("runs/attacks")


@dataclass
class QuickArgs:
    """The main job: shipped HalfCheetah and Hopper policies vs every attack at the standard eps."""

    episodes: Positive = 10
    """episodes per cell"""
    run: RunSettings = _runs_in("runs/quick")


@dataclass
class LeaderboardArgs:
    """The robustness leaderboard: defenses x attacks (learned ones included) at the standard
    eps, natural return and the worst case per victim; adversaries are trained as cells."""

    envs: Names = _default(*LEADERBOARD_ENVS)
    """MuJoCo tasks"""
    defenses: Defenses = _default("ppo", "sappo", "atla")
    """zoo victims <defense>-<env>; smooth: the env's smoothed PPO policies, where shipped"""
    attacks: Names = _default(*LEADERBOARD_ATTACKS)
    """attack and learned-attack names"""
    eps: Annotated[OptionalFinite, default_is("each env's standard eps")] = None
    """budget for every victim"""
    seeds: Counts = _default(0)
    """evaluation seeds (each trains its own adversaries)"""
    episodes: Positive = 50
    """deterministic episodes per cell"""
    adversary_steps: Positive = 1_000_000
    """training steps per learned adversary"""
    use_shipped: bool = True
    """attack with a victim's shipped adversary where one fits instead of training one"""
    n_envs: Positive = 10
    """parallel envs per evaluation cell"""
    run: RunSettings = _runs_in("runs/leaderboard")


@dataclass
class CertifySettings:
    """Settings shared by `advrl certify` and `advrl bench smoothing`."""

    sigma: Annotated[OptionalFinite, default_is("the one it was trained with")] = None
    """smoothing std"""
    episodes: Positive = 10_000
    """clean smoothed episodes for the certificate"""
    budgets: str = "0:1:0.1"
    """total l2 budgets, start:stop:step or a,b,c"""
    alpha: Finite = 0.05
    """1 - confidence of the bound"""
    method: CertifyMethod = "clopper_pearson"
    """the bound"""
    attack_episodes: Count = 200
    """episodes per budget under adaptive PGD (0: skip)"""
    seed: Count = 0
    """seed"""
    run: RunSettings = _runs_in("runs/certify")


@dataclass
class CertifyArgs(CertifySettings):
    """Certify a smoothed zoo policy: bound on the attacked return vs the total l2 budget."""

    policy: str = SMOOTHED_POLICIES[0]
    """smoothed zoo policy"""


@dataclass
class SmoothingArgs(CertifySettings):
    """The smoothing suite: certify every shipped smoothed policy and check the bound."""

    policies: Names = _default(*SMOOTHED_POLICIES)
    """smoothed zoo policies"""
    run: RunSettings = _runs_in("runs/smoothing")


@dataclass
class RobustnessArgs:
    """A protagonist's return over a mass x friction grid (heatmap PNG + CSV)."""

    models: Annotated[Names, default_is("none")] = _default()
    """LABEL=ALGO:PATH per saved SB3 protagonist (trusted files only), e.g.
    rarl=PPO:runs/rarl/protagonist.zip"""
    env: str = "InvertedPendulum-v5"
    """the MuJoCo task"""
    mass: str = "0.5:1.5:0.1"
    """mass multipliers, start:stop:step or a,b,c"""
    friction: str = "0.5:1.5:0.1"
    """friction multipliers, start:stop:step or a,b,c"""
    bodies: Annotated[Names, default_is("all")] = _default()
    """bodies to scale"""
    episodes: Positive = 5
    """episodes per grid point"""
    seed: Count = 0
    """evaluation seed"""
    run: RunSettings = _runs_in("runs/robustness")


@dataclass
class HackingArgs:
    """Reward hacking: PPO on the proxy vs action-KL and ORPO; true and proxy returns."""

    testbeds: Names = _default("advrl/Tomato-v0")
    """testbed ids"""
    action_kl: Finites = _default(0.1, 1.0)
    """action-KL coefficients"""
    orpo: Names = _default("sqrt_chi2:0.05", "sqrt_chi2:0.2", "chi2:0.1")
    """ORPO settings DIVERGENCE:COEF"""
    seeds: Counts = _default(0, 1, 2)
    """training seeds"""
    steps: Positive = 200_000
    """env steps per training run"""
    orpo_epsilon: Finites = _default(0.1)
    """random-action rates of ORPO's reference (0 on a MuJoCo testbed = action-KL's reference)"""
    orpo_reward_clip: Annotated[OptionalFinite, default_is("no clipping")] = None
    """clip ORPO's penalised reward to [-C, C]"""
    run: RunSettings = _runs_in("runs/hacking")


@dataclass
class OveroptimizationArgs:
    """Reward-model overoptimisation: PPO and best-of-n against learned rewards (single RM,
    mean, WCO, UWO ensembles); gold (true) vs proxy return."""

    tasks: Names = _default("advrl/Tomato-v0", "HalfCheetah-v5")
    """tasks"""
    methods: Names = _default("ppo", "bon")
    """ppo and/or bon (best-of-n)"""
    seeds: Counts = _default(0)
    """seeds (preference data, reward models, PPO)"""
    ppo_steps: Count = 0
    """PPO env steps per run (0: the task's default)"""
    bon_episodes: Count = 0
    """best-of-n pool size in episodes (0: the task's default)"""
    noise: Finite = 0.25
    """preference label flip probability"""
    members: AtLeastTwo = 5
    """reward models in the ensemble"""
    pairs: AtLeastTwo = 2000
    """labelled segment pairs (20% held out)"""
    uwo_lambda: Annotated[OptionalFinite, default_is("0.1 for PPO, 0.5 for best-of-n")] = None
    """UWO's lambda (Coste et al.)"""
    run: RunSettings = _runs_in("runs/overoptimization")


@dataclass
class RewardDistancesArgs:
    """Reward distances (EPIC, STARC) vs the regret of each learned reward's optimal policy,
    and vs preference accuracy, over the overoptimisation benchmark's Tomato reward models."""

    seeds: Counts = _default(0, 1, 2)
    """seeds (preference data, reward models)"""
    pairs: Annotated[list[int], many(integer(2), "INT")] = _default(10, 20, 50, 100, 300, 1000)
    """labelled segment pairs per ensemble (they vary the models' quality)"""
    noise: Finites = _default(0.25)
    """preference label flip probabilities"""
    n_mean_samples: Positive = 1024
    """mean samples of the sampled EPIC"""
    n_boot: Positive = 2000
    """bootstrap resamples (of whole ensembles) behind the report's intervals"""
    run: RunSettings = _runs_in("runs/reward_distances")


@dataclass
class RewardRobustnessArgs:
    """Lipschitz-regularised reward models (none, gradient penalty, spectral norm) under an
    observation attack: reward error, rank correlation and best-of-n true return per eps."""

    tasks: Names = _default("HalfCheetah-v5")
    """tasks"""
    seeds: Counts = _default(0, 1, 2)
    """seeds (preference data, reward models, attacks)"""
    eps: Finites = _default(0.01, 0.03, 0.1, 0.3)
    """l_inf budgets of the attack on the reward model's observations (raw space)"""
    regularizers: Names = _default("none", "gp", "sn")
    """none, gp (gradient penalty), sn (spectral norm)"""
    gp_weight: Finite = 10.0
    """gradient-penalty scale"""
    gp_targets: Finites = _default(0.05)
    """gradient-penalty targets k (one set of cells per target)"""
    gp_site: str = "data"
    """where the penalty is taken: data, policy_noise or interpolates"""
    pairs: AtLeastTwo = 2000
    """labelled segment pairs (20% held out)"""
    noise: Finite = 0.25
    """preference label flip probability"""
    episodes: Positive = 500
    """best-of-n pool size in episodes"""
    run: RunSettings = _runs_in("runs/reward_robustness")


@dataclass
class CriticLipschitzArgs:
    """Lipschitz-regularised PPO critics (spectral norm, gradient penalty, adversarial noise)
    against the critic attack: clean and attacked return, local Lipschitz of V, throughput."""

    envs: Names = _default("CartPole-v1")
    """envs"""
    variants: Names = _default("vanilla", "spectral_norm", "gradient_penalty", "adversarial")
    """vanilla, spectral_norm, gradient_penalty, adversarial"""
    seeds: Counts = _default(0, 1)
    """seeds"""
    steps: Count = 0
    """PPO env steps (0: the env's default)"""
    episodes: Positive = 20
    """evaluation episodes per eps"""
    run: RunSettings = _runs_in("runs/critic_lipschitz", workers=1)


@dataclass
class ConstrainedArgs:
    """Constrained optimisation of composite rewards (Moskovitz et al.): PPO on the sum of
    learned component rewards vs ConstrainedPPO under their proxy points; gold return."""

    tasks: Names = _default("HalfCheetah-v5")
    """tasks"""
    seeds: Counts = _default(0, 1)
    """seeds"""
    steps: Count = 0
    """PPO env steps per learner (0: the task's default)"""
    pairs: AtLeastTwo = 100
    """labelled segment pairs per component reward model"""
    noise: Finite = 0.25
    """preference label flip probability"""
    multiplier_lr: Finite = 1.0
    """Lagrange multipliers' learning rate"""
    run: RunSettings = _runs_in("runs/constrained")


@dataclass
class AdversarialPoliciesArgs:
    """Adversarial policies in two-player MuJoCo (Gleave et al.; Liu et al.'s budget): win
    rates of a freshly trained adversary and of the normal opponent against the shipped
    victim, by budget, with and without adversarial training of the victim."""

    games: Names = _default("sumo")
    """sumo and/or you_shall_not_pass"""
    budgets: Finites = _default(0.25, 0.5, 1.0)
    """shares of steps the attacker controls the opponent (Liu et al.), each in [0, 1]"""
    seeds: Counts = _default(0, 1)
    """seeds (adversary training, matches)"""
    steps: Positive = 300_000
    """adversary PPO env steps"""
    episodes: Positive = 200
    """games per match"""
    defenses: Names = _default("none", "adversarial_training")
    """none and/or adversarial_training (the victim trained against an attacker first; budget
    1 only)"""
    defense_rounds: Positive = 20
    """adversarial training rounds (each: the attacker's steps, then one victim rollout)"""
    attacker_ratio: Positive = 4
    """attacker env steps per victim step in each round (Liu et al.'s timescale separation)"""
    mode: Literal["mixture", "interpolate"] = "mixture"
    """mixture: the attacker acts with probability budget (Liu et al.); interpolate: the
    actions are mixed"""
    run: RunSettings = _runs_in("runs/adversarial_policies")


@dataclass
class ImitationArgs:
    """Off-policy adversarial imitation (DAC/SAM: SAC on a discriminator reward from zoo
    expert demonstrations), with and without the discriminator's gradient penalty, plain SAC
    on the true reward for scale; true return as a fraction of the expert's."""

    tasks: Names = _default("Hopper-v5")
    """tasks (each with a zoo expert: Hopper-v5, HalfCheetah-v5, ...)"""
    seeds: Counts = _default(0)
    """seeds"""
    arms: Names = _default("gp", "no_gp")
    """gp (gradient penalty), no_gp and/or sac (plain SAC on the true reward)"""
    steps: Positive = 30_000
    """SAC env steps per run"""
    demo_episodes: Positive = 4
    """expert episodes behind the demonstrations"""
    run: RunSettings = _runs_in("runs/imitation", workers=1)


@dataclass
class TargetedArgs:
    """Targeted-behaviour attacks (RAT, Bai et al.): an intention policy learned from
    preferences over the attacker's target, a learned observation attacker that steers the
    victim towards it; targeted success rates against untargeted and targeted-PGD baselines."""

    victims: Names = _default("ppo-halfcheetah")
    """zoo victims"""
    targets: Names = _default("backward")
    """target behaviours"""
    seeds: Counts = _default(0)
    """seeds"""
    eps: Finite = 0.15
    """l_inf budget of every attack (the victim's normalised observation space)"""
    intention_steps: Positive = 200_000
    """PPO env steps of the intention policy"""
    adversary_steps: Positive = 200_000
    """PPO env steps of the RAT adversary"""
    ablation_steps: Count = 0
    """env steps of RAT without the weighting function (0: no ablation)"""
    throughput_steps: Count = 0
    """env steps of the RAT-vs-plain-PPO timing (0: not timed)"""
    episodes: Positive = 20
    """evaluation episodes per attack"""
    run: RunSettings = _runs_in("runs/targeted", workers=1)


@dataclass
class CheapTalkArgs:
    """Cheap talk (ACT): PPO victims with no, random, ACT-anti and ACT-pro messages; control."""

    methods: Names = _default(
        "none", "random", "random-adversary", "act-anti", "act-pro", "act-control"
    )
    """none, random, random-adversary, act-anti, act-pro, act-control"""
    seeds: Counts = _default(0, 1)
    """ACT / evaluation seeds"""
    popsize: Integer = 32
    """ES population (even, >= 2): victims per generation"""
    generations: Positive = 20
    """ES generations"""
    updates: Positive = 16
    """PPO updates per victim (4 envs x 128 steps each)"""
    victims: Positive = 32
    """fresh victims trained to evaluate each message source"""
    run: RunSettings = _runs_in("runs/cheap_talk", workers=1)
