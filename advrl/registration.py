"""Every ``advrl/...`` environment id, registered on ``import advrl``.

Gym ids go to Gymnasium's registry and multi-agent ids to PettingZoo's parallel registry and,
the same id turned turn-based by ``pettingzoo.utils.parallel_to_aec``, to its AEC registry
(``pettingzoo.make("aec", "advrl/...")``); all under the ``advrl/`` namespace, with lazy
``"module:attr"`` entry points so importing advrl never imports MuJoCo, nle or torch models
it does not need.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

NAMESPACE = "advrl"


@dataclass(frozen=True)
class EnvEntry:
    """One registered id and the one-line description ``advrl list`` prints."""

    id: str
    entry_point: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    vector_entry_point: str | None = None
    """Where batching matters: the batched vector env ``gym.make_vec`` builds (by default,
    and with ``vectorization_mode="vector_entry_point"``)."""


GYM_ENVS: tuple[EnvEntry, ...] = (
    EnvEntry(
        "advrl/PerturbedObservation-v0",
        "advrl.attacks.make_env:perturbed_observation_env",
        "any Box-observation task under an observation attack on a zoo victim "
        "(kwargs: env_id, attack, eps, norm, victim, space)",
        # One batched attack (victim forward/backward passes) for all envs per step.
        vector_entry_point="advrl.attacks.vector:perturbed_observation_vec",
    ),
    EnvEntry(
        "advrl/SmoothedCartPole-v0",
        "advrl.agents.smoothing.envs:smoothed_env",
        "CartPole, 200-step episodes, N(0, sigma^2) noise on each frame, 5 stacked frames "
        "(policy smoothing; kwargs: sigma)",
        kwargs={"env_id": "CartPole-v1", "sigma": 0.2, "frame_stack": 5, "max_episode_steps": 200},
    ),
    EnvEntry(
        "advrl/SmoothedHalfCheetah-v0",
        "advrl.agents.smoothing.envs:smoothed_env",
        "HalfCheetah-v5 with N(0, sigma^2) noise on each raw observation (kwargs: sigma)",
        kwargs={"env_id": "HalfCheetah-v5", "sigma": 0.1},
    ),
)

GYM_ENVS += (
    EnvEntry(
        "advrl/Tomato-v0",
        "advrl.envs.tomato:TomatoGridworld",
        "tomato-watering gridworld 7x7: proxy pays for every tomato on the sprinkler cell "
        "(kwargs: reward='proxy'|'true')",
        kwargs={"level": "7x7"},
    ),
    EnvEntry(
        "advrl/TomatoHard-v0",
        "advrl.envs.tomato:TomatoGridworld",
        "tomato-watering gridworld 10x10, the harder level (kwargs: reward='proxy'|'true')",
        kwargs={"level": "10x10"},
    ),
)

GYM_ENVS += (
    EnvEntry(
        "advrl/HalfCheetahUpright-v0",
        "advrl.envs.hacking:halfcheetah_upright",
        "HalfCheetah: proxy = standard reward, true = forward reward only while upright "
        "(hack: run on its back)",
    ),
    EnvEntry(
        "advrl/HopperLunge-v0",
        "advrl.envs.hacking:hopper_lunge",
        "Hopper: proxy = forward velocity, true = standard reward (hack: dive forward and fall)",
    ),
    EnvEntry(
        "advrl/ReacherX-v0",
        "advrl.envs.hacking:reacher_x",
        "Reacher: proxy = distance along x only, true = full distance (hack: right x, wrong y)",
    ),
)

GYM_ENVS += (
    EnvEntry(
        "advrl/CartPoleMisleadingAux-v0",
        "advrl.agents.barfi.tasks:cartpole_aux",
        "CartPole returning r_p + r_aux, aux = +1 when the action opposes a PD controller "
        "(BARFI; kwargs: mode='bad'|'bad_penalty'|'good', scale)",
        kwargs={"mode": "bad"},
    ),
    EnvEntry(
        "advrl/CartPoleHelpfulAux-v0",
        "advrl.agents.barfi.tasks:cartpole_aux",
        "CartPole returning r_p + r_aux, aux = +1 when the action matches a PD controller "
        "(BARFI; kwargs: scale)",
        kwargs={"mode": "good"},
    ),
)

GYM_ENVS += (
    EnvEntry(
        "advrl/ObservationAdversary-v0",
        "advrl.attacks.learned.adversary_env:ObservationAdversaryEnv",
        "the optimal-attack game: act in [-1,1]^d to perturb a frozen zoo victim's "
        "normalised observation by eps*action, reward = -victim reward "
        "(kwargs: victim, eps, norm, victim_digest, victim_deterministic)",
        # One batched victim call (normalise, act) for all envs per step.
        vector_entry_point="advrl.attacks.learned.adversary_vector:observation_adversary_vec",
    ),
    EnvEntry(
        "advrl/DirectionAdversary-v0",
        "advrl.attacks.learned.paad:DirectionAdversaryEnv",
        "PA-AD's director game: act with a direction in [-1,1]^k in a frozen zoo victim's "
        "action space; an actor perturbs its normalised observation within eps to move its "
        "action that way, reward = -victim reward (kwargs: victim, eps, norm, victim_digest, "
        "victim_deterministic, actor_steps, step_size, probe, magnitude)",
        vector_entry_point="advrl.attacks.learned.adversary_vector:direction_adversary_vec",
    ),
    EnvEntry(
        "advrl/TargetedAdversary-v0",
        "advrl.attacks.learned.rat:TargetedAdversaryEnv",
        "RAT's game: perturb a frozen zoo victim's normalised observation by eps*action so "
        "that it acts as an intention policy, reward = -||victim action - intention action||^2 "
        "(kwargs: victim, intention, eps, norm, victim_digest, victim_deterministic)",
        vector_entry_point="advrl.attacks.learned.adversary_vector:targeted_adversary_vec",
    ),
)

_FORCE_TASKS = ("InvertedPendulum", "HalfCheetah", "Hopper", "Walker2d")

GYM_ENVS += tuple(
    EnvEntry(
        f"advrl/{task}Force-v0",
        "advrl.envs.forces:protagonist_view",
        f"{task}-v5 under planar forces from a pluggable adversary "
        "(kwargs: adversary='none'|'random'|policy, bodies, max_force, strength)",
        kwargs={"env_id": f"{task}-v5"},
    )
    for task in _FORCE_TASKS
)

_NETHACK_TASKS = (
    ("Score", "score", "in-game score delta (nle's score task)"),
    ("Oracle", "oracle", "reach the Oracle; proxy pays while hallucinating, true needs sober"),
    ("OracleSober", "oracle_sober", "reach the Oracle while not hallucinating (true = proxy)"),
    ("Staircase3", "staircase3", "reach dungeon level 3 (success reward 50)"),
    ("Staircase4", "staircase4", "reach dungeon level 4 (success reward 50)"),
)

GYM_ENVS += tuple(
    EnvEntry(
        f"advrl/NetHack{name}-v0",
        "advrl.envs.nethack.tasks:NetHackTask",
        f"NetHack (nle) ONI task: {what} (kwargs: success_reward, observation_keys, ...)",
        kwargs={"task": task},
    )
    for name, task, what in _NETHACK_TASKS
)

GYM_ENVS += (
    EnvEntry(
        "advrl/SumoPlayer-v0",
        "advrl.envs.competitive:player_view",
        "one player of advrl/Sumo-v0 against a random (or zero) opponent; the env sumo "
        "policies are built and shipped on (kwargs: agent, opponent, game kwargs)",
        kwargs={"game": "sumo"},
    ),
    EnvEntry(
        "advrl/YouShallNotPassPlayer-v0",
        "advrl.envs.competitive:player_view",
        "the runner (or, agent='blocker', the blocker) of advrl/YouShallNotPass-v0 against a "
        "random (or zero) opponent (kwargs: agent, opponent, game kwargs)",
        kwargs={"game": "you_shall_not_pass"},
    ),
)

PARALLEL_ENVS: tuple[EnvEntry, ...] = tuple(
    EnvEntry(
        f"advrl/{task}ForceGame-v0",
        "advrl.envs.forces:ForceAdversaryEnv",
        f"{task}-v5 as a zero-sum game: protagonist vs a force adversary (RARL/QARL)",
        kwargs={"env_id": f"{task}-v5"},
    )
    for task in _FORCE_TASKS
)
"""Multi-agent (PettingZoo parallel) ids."""

_CHEAP_TALK_TASKS = ("CartPole-v1", "Pendulum-v1", "InvertedPendulum-v5")

PARALLEL_ENVS += tuple(
    EnvEntry(
        f"advrl/CheapTalk{task.split('-')[0]}-v0",
        "advrl.envs.cheap_talk_game:CheapTalkEnv",
        f"{task} with a cheap-talk adversary whose message is appended to the victim's "
        "observation (ACT; kwargs: dims, scale, adversary_reward='anti'|'pro'|'zero')",
        kwargs={"env_id": task},
    )
    for task in _CHEAP_TALK_TASKS
) + (
    EnvEntry(
        "advrl/CheapTalkSimpleSpread-v0",
        "advrl.envs.cheap_talk_game:mpe_cheap_talk",
        "mpe2 simple_spread_v3 (3 agents) with one cheap-talk adversary heard by every agent "
        "(ACT; kwargs: dims, scale, adversary_reward, N, max_cycles)",
        kwargs={"task": "simple_spread_v3"},
    ),
)


PARALLEL_ENVS += (
    EnvEntry(
        "advrl/Sumo-v0",
        "advrl.envs.competitive:Sumo",
        "two-player MuJoCo sumo: push the other player out of the ring (Gleave et al. 2020; "
        "kwargs: ring_radius, max_cycles, win_reward, shaping, ctrl_cost)",
    ),
    EnvEntry(
        "advrl/YouShallNotPass-v0",
        "advrl.envs.competitive:YouShallNotPass",
        "two-player MuJoCo corridor: a runner crosses the finish line, a blocker stops it in "
        "time (Gleave et al. 2020; kwargs: max_cycles, win_reward, shaping, ctrl_cost)",
    ),
)


@dataclass(frozen=True)
class AECFromParallel:
    """AEC entry point of a parallel env: ``parallel_to_aec(<entry_point>(**kwargs))``.

    Example:
        >>> import pettingzoo
        >>> env = pettingzoo.make("aec", "advrl/CheapTalkCartPole-v0", max_cycles=3)
        >>> env.reset(seed=0)
        >>> env.agent_selection
        'adversary'
    """

    entry_point: str | Callable[..., Any]

    def __call__(self, **kwargs: Any):
        from pettingzoo.utils.conversions import parallel_to_aec

        creator = self.entry_point
        if isinstance(creator, str):
            module, attr = creator.split(":")
            creator = getattr(importlib.import_module(module), attr)
        return parallel_to_aec(creator(**kwargs))


def register_parallel(entries: tuple[EnvEntry, ...]) -> None:
    """Add entries to PettingZoo's parallel registry and their AEC versions to its AEC registry
    (skipping ids already there)."""
    import pettingzoo

    for entry in entries:
        if entry.id not in pettingzoo.parallel_registry:
            pettingzoo.register(
                "parallel", entry.id, entry_point=entry.entry_point, kwargs=dict(entry.kwargs)
            )
        if entry.id not in pettingzoo.aec_registry:
            aec = AECFromParallel(entry.entry_point)
            pettingzoo.register("aec", entry.id, entry_point=aec, kwargs=dict(entry.kwargs))


def register_all() -> None:
    """Register every advrl id; safe to call more than once."""
    for entry in GYM_ENVS:
        if entry.id not in gym.registry:
            gym.register(
                id=entry.id,
                entry_point=entry.entry_point,
                kwargs=dict(entry.kwargs),
                max_episode_steps=entry.max_episode_steps,
                vector_entry_point=entry.vector_entry_point,
            )
    register_parallel(PARALLEL_ENVS)


def all_entries() -> list[tuple[str, EnvEntry]]:
    """``(kind, entry)`` for every id, kind ``"gym"`` or ``"parallel"``."""
    return [("gym", e) for e in GYM_ENVS] + [("parallel", e) for e in PARALLEL_ENVS]
