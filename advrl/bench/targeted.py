"""Targeted behaviour attacks: does RAT make the victim do what the attacker wants more often
than untargeted or per-step targeted attacks of the same budget? (Bai et al. 2025; issue 16.)
``advrl bench targeted``; the report is :mod:`advrl.bench.targeted_report`.

A cell is one (victim, target behaviour, seed), run end to end:

1. **Intention from preferences** (PEBBLE-style, offline): segments of 50 steps from the
   victim's own rollouts and from uniform random actions, ``n_pairs`` synthetic preference
   labels from the target reward (:data:`TARGETS`; ``backward``: minus the forward reward,
   plus the control cost), a 3-member reward ensemble, and an SB3 PPO intention policy
   trained on the ensemble's mean reward (:class:`~advrl.envs.learned_reward.VecLearnedReward`).
2. **RAT** (:mod:`advrl.attacks.learned.rat`): a PPO observation adversary rewarded by the
   weighted closeness of the victim's action (on the perturbed state) to the intention's (on
   the clean one), the weighting net trained by the bi-level step; ``ablation_steps`` > 0
   also trains the unweighted adversary.
3. **Evaluation**, ``episodes`` deterministic victim episodes per attack at the same eps in
   the victim's normalised space: none, uniform noise, untargeted PGD, the shipped optimal
   (untargeted) adversary where one exists for this eps, targeted PGD towards the intention's
   action (:class:`~advrl.attacks.learned.rat.IntentionPGD`), RAT; and the intention policy
   itself as the reference. An episode *succeeds* when the target's success test holds
   (``backward``: its mean x-velocity is below 0, i.e. the cheetah ends behind its start).
   Success rates carry Wilson 95% intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch as th

from advrl.bench.cells import config_key


@dataclass(frozen=True)
class Target:
    """A target behaviour: its reward from a step's info and an episode's success test."""

    env_id: str
    reward: Callable[[dict], float]
    success: Callable[[dict[str, float]], bool]
    description: str


TARGETS: dict[str, Target] = {
    "backward": Target(
        "HalfCheetah-v5",
        lambda info: -float(info["reward_forward"]) + float(info["reward_ctrl"]),
        lambda episode: episode["mean_x_velocity"] < 0.0,
        "run backward: reward -forward reward + control cost; success: mean x-velocity < 0",
    ),
}
"""Target behaviours by name."""

ATTACK_ROWS = ("none", "uniform", "pgd", "optimal", "intention_pgd", "rat", "rat_unweighted",
               "intention")  # fmt: skip
"""Rows of a cell, in the report's order (``intention``: the intention policy, clean)."""


class TargetReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Serve a target behaviour's reward; the task's reward goes to ``info["reward_task"]``,
    the target's to ``info["reward_true"]`` (what preferences are labelled by)."""

    def __init__(self, env: gym.Env, target: str) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, target=target)
        super().__init__(env)
        self.target = check_target(target)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        value = self.target.reward(info)
        info = {**info, "reward_task": float(reward), "reward_true": value}
        return obs, value, terminated, truncated, info


def check_target(name: Any) -> Target:
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; allowed: {sorted(TARGETS)}")
    return TARGETS[name]


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The Wilson 95% interval of a success rate."""
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(method="wilson")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class TargetedCell:
    """Learn an intention from preferences, train RAT, evaluate every attack (module docs)."""

    victim: str = "ppo-halfcheetah"
    target: str = "backward"
    seed: int = 0
    eps: float = 0.15
    n_segments: int = 400
    n_pairs: int = 2000
    members: int = 3
    rm_epochs: int = 10
    intention_steps: int = 200_000
    adversary_steps: int = 200_000
    ablation_steps: int = 0
    throughput_steps: int = 0
    episodes: int = 20
    episode_steps: int = 1000
    n_envs: int = 8
    rollout_steps: int = 512
    net_arch: tuple[int, ...] = (64, 64)

    kind: ClassVar[str] = "targeted"

    def __post_init__(self) -> None:
        target = check_target(self.target)
        if not (np.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {self.eps!r}")
        counts = {"n_segments": self.n_segments, "n_pairs": self.n_pairs, "members": self.members,
                  "rm_epochs": self.rm_epochs, "intention_steps": self.intention_steps,
                  "adversary_steps": self.adversary_steps, "episodes": self.episodes,
                  "n_envs": self.n_envs, "episode_steps": self.episode_steps,
                  "rollout_steps": self.rollout_steps}  # fmt: skip
        bad = {k: v for k, v in counts.items() if not isinstance(v, int) or v < 1}
        if bad or min(self.ablation_steps, self.throughput_steps) < 0 or self.n_segments < 2:
            raise ValueError(f"counts must be ints >= 1 (n_segments >= 2; ablation_steps, "
                             f"throughput_steps >= 0),"
                             f" got {bad or counts}")  # fmt: skip
        from advrl.attacks.learned.victims import load_victim

        env_id = load_victim(self.victim).env_id
        if env_id != target.env_id:
            raise ValueError(f"target {self.target!r} is for {target.env_id}, but victim "
                             f"{self.victim!r} runs {env_id}")  # fmt: skip

    @property
    def label(self) -> str:
        return f"{self.victim} {self.target} eps={self.eps:g} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self), "net_arch": list(self.net_arch)}

    @property
    def key(self) -> str:
        return config_key(f"targeted-{self.victim}-{self.target}-s{self.seed}", self.to_dict())

    def run(self) -> dict[str, Any]:
        from advrl.attacks import make_attack
        from advrl.attacks.learned.rat import IntentionPGD, train_rat_adversary
        from advrl.attacks.learned.victims import load_victim

        victim = load_victim(self.victim)
        policy = victim.torch_policy()
        timings: dict[str, float] = {}
        start = time.perf_counter()
        intention, rm = learn_intention(self, victim)
        timings["intention_seconds"] = time.perf_counter() - start
        states = intention_states(intention, policy, self.target, self.seed)
        kwargs = dict(seed=self.seed, n_envs=self.n_envs, intention_states=states,
                      n_steps=self.rollout_steps, batch_size=min(256, self.rollout_steps),
                      policy_kwargs=dict(net_arch=dict(pi=list(self.net_arch),
                                                       vf=list(self.net_arch)),
                                         activation_fn=th.nn.Tanh))  # fmt: skip
        rat = train_rat_adversary(self.victim, intention, self.eps, self.adversary_steps,
                                  **kwargs)  # fmt: skip
        timings["rat_seconds"] = rat.card.train_seconds
        attacks: dict[str, Any] = {
            "none": None,
            "uniform": make_attack("uniform", self.eps),
            "pgd": make_attack("pgd", self.eps),
            "optimal": shipped_optimal(self.victim, self.eps),
            "intention_pgd": IntentionPGD(self.eps, intention=intention),
            "rat": rat.attack(),
        }
        if self.ablation_steps:
            plain = train_rat_adversary(self.victim, intention, self.eps, self.ablation_steps,
                                        weighted=False, **kwargs)  # fmt: skip
            attacks["rat_unweighted"] = plain.attack()
            timings["rat_unweighted_seconds"] = plain.card.train_seconds
        if self.throughput_steps:  # plain PPO on the same game: the untargeted optimal attack
            from advrl.attacks.learned.optimal import train_optimal_attack

            kw = {k: v for k, v in kwargs.items() if k not in ("intention_states", "seed")}
            plain_ppo = train_optimal_attack(self.victim, self.eps, self.throughput_steps,
                                             seed=self.seed, **kw)  # fmt: skip
            seconds = max(plain_ppo.card.train_seconds, 1e-9)
            timings["plain_ppo_steps_per_second"] = self.throughput_steps / seconds
        rows = []
        for name, attack in attacks.items():
            if name == "optimal" and attack is None:
                continue
            episodes = evaluate_targeted(victim, attack, self.target, self.episodes, self.seed,
                                         self.episode_steps)  # fmt: skip
            rows.append(summarise(name, episodes, self.target))
        clean = evaluate_intention(intention, self.target, self.episodes, self.seed,
                                   self.episode_steps)  # fmt: skip
        rows.append(summarise("intention", clean, self.target))
        by_name = {r["attack"]: r for r in rows}
        return {"rows": rows, "mean_return": by_name["rat"]["mean_return"], **rm,
                "rat_final_adversary_return": rat.card.final_adversary_return,
                "rat_steps_per_second": self.adversary_steps / max(rat.card.train_seconds, 1e-9),
                **{k: round(v, 1) for k, v in timings.items()}}  # fmt: skip


def learn_intention(cell: TargetedCell, victim) -> tuple[Any, dict[str, float]]:
    """Reward ensemble from synthetic preferences, then a PPO intention on its mean reward.
    Returns the intention's TorchPolicy (its normaliser frozen) and the ensemble's record."""
    from advrl.policies import from_sb3

    model, venv, record = train_intention(cell, victim)
    return from_sb3(model, venv), record


def train_intention(cell: TargetedCell, victim) -> tuple[Any, Any, dict[str, float]]:
    """:func:`learn_intention`'s training: the SB3 PPO intention, its ``VecNormalize``
    (whose statistics it acts on) and the ensemble's record (what the zoo ships)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from advrl.agents.reward_models import (
        Segments,
        rollout_segments,
        synthetic_preferences,
        train_ensemble,
    )
    from advrl.envs.learned_reward import VecLearnedReward
    from advrl.zoo.train import PPO_MUJOCO

    target = TARGETS[cell.target]
    env = TargetReward(gym.make(target.env_id), cell.target)
    policy = victim.torch_policy()

    def act(obs: np.ndarray) -> np.ndarray:
        with th.no_grad():
            x = policy.normalize(th.as_tensor(obs, dtype=th.float32)[None])
            return policy.action(x)[0].numpy().clip(-1.0, 1.0)

    half = cell.n_segments // 2
    parts = [rollout_segments(env, half, 50, policy=act, seed=cell.seed),
             rollout_segments(env, cell.n_segments - half, 50, seed=cell.seed + 1)]  # fmt: skip
    segments = Segments(*(np.concatenate([getattr(p, k) for p in parts])
                          for k in ("obs", "actions", "next_obs", "rewards")))  # fmt: skip
    data = synthetic_preferences(segments, cell.n_pairs, seed=cell.seed)
    ensemble, reports = train_ensemble(
        env.observation_space, env.action_space, data, n_members=cell.members, seed=cell.seed,
        epochs=cell.rm_epochs, net_kwargs={"hidden": (64, 64)}, lr=1e-3, batch_size=64,
    )  # fmt: skip
    venv = make_vec_env(target.env_id, cell.n_envs, seed=cell.seed, wrapper_class=TargetReward,
                        wrapper_kwargs={"target": cell.target})  # fmt: skip
    venv = VecNormalize(VecLearnedReward(venv, ensemble), norm_obs=True, norm_reward=True)
    hparams = {**PPO_MUJOCO, "n_steps": cell.rollout_steps,
               "batch_size": min(256, cell.rollout_steps)}  # fmt: skip
    model = PPO("MlpPolicy", venv, seed=cell.seed, verbose=0, device="cpu", **hparams)
    model.learn(cell.intention_steps)
    record = {"rm_held_out_accuracy": float(np.mean([r.held_out_accuracy for r in reports]))}
    return model, venv, record


def intention_states(intention, victim_policy, target: str, seed: int, n: int = 2000):
    """States of the intention's own clean rollouts, in the victim's normalised space (the
    outer batch of RAT's bi-level step)."""
    env = gym.make(TARGETS[target].env_id)
    obs, _ = env.reset(seed=10_000 + seed)
    out = []
    for _ in range(n):
        out.append(obs)
        with th.no_grad():
            raw = th.as_tensor(obs, dtype=th.float32)[None]
            action = intention.action(intention.normalize(raw))[0].numpy().clip(-1.0, 1.0)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    with th.no_grad():
        return victim_policy.normalize(th.as_tensor(np.stack(out), dtype=th.float32)).numpy()


def shipped_optimal(victim: str, eps: float):
    """The shipped optimal (untargeted) adversary of ``victim`` if it was trained for eps."""
    from advrl.attacks.learned.registry import load_learned_attack

    try:
        return load_learned_attack("optimal", victim=victim, eps=eps)
    except ValueError:  # none shipped, or trained for another budget
        return None


def _episodes(step: Callable[[np.ndarray], np.ndarray], venv, n_episodes: int, target: str):
    """Run ``n_episodes`` split over ``venv``'s envs; per episode: mean x-velocity, target and
    task returns (from the raw infos)."""
    rule = TARGETS[target]
    n_envs = venv.num_envs
    quota = [n_episodes // n_envs + (i < n_episodes % n_envs) for i in range(n_envs)]
    acc = [{"v": 0.0, "t": 0.0, "r": 0.0, "n": 0} for _ in range(n_envs)]
    out: list[dict[str, float]] = []
    done_count = [0] * n_envs
    obs = venv.reset()
    while any(d < q for d, q in zip(done_count, quota, strict=True)):
        obs, _, dones, infos = venv.step(step(obs))
        for i, info in enumerate(infos):
            a = acc[i]
            a["v"] += float(info["x_velocity"])
            a["t"] += rule.reward(info)
            a["r"] += float(info["reward_forward"]) + float(info["reward_ctrl"])
            a["n"] += 1
            if dones[i]:
                if done_count[i] < quota[i]:
                    out.append({"mean_x_velocity": a["v"] / a["n"], "target_return": a["t"],
                                "return": a["r"], "length": a["n"]})  # fmt: skip
                done_count[i] += 1
                acc[i] = {"v": 0.0, "t": 0.0, "r": 0.0, "n": 0}
    return out


def evaluate_targeted(victim, attack, target: str, n_episodes: int, seed: int,
                      episode_steps: int = 1000, n_envs: int = 10):  # fmt: skip
    """Deterministic victim episodes under ``attack`` (None: clean), in its normalised space."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from advrl.attacks import VecPerturbObservation
    from advrl.zoo import frozen_vec_normalize

    n_envs = min(n_envs, n_episodes)
    kwargs = {"max_episode_steps": episode_steps, **victim.env_kwargs}
    venv = DummyVecEnv([lambda: gym.make(victim.env_id, **kwargs)] * n_envs)
    venv.seed(seed)
    if attack is not None:
        venv = VecPerturbObservation(venv, attack, victim.torch_policy(), seed=seed)
    venv = frozen_vec_normalize(venv, victim.obs_stats)
    model = victim.model
    return _episodes(lambda obs: model.predict(obs, deterministic=True)[0], venv, n_episodes,
                     target)  # fmt: skip


def evaluate_intention(intention, target: str, n_episodes: int, seed: int,
                       episode_steps: int = 1000, n_envs: int = 10):  # fmt: skip
    """The intention policy's own clean episodes (the behaviour the attacker asks for)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    n_envs = min(n_envs, n_episodes)
    env_id = TARGETS[target].env_id
    venv = DummyVecEnv([lambda: gym.make(env_id, max_episode_steps=episode_steps)] * n_envs)
    venv.seed(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        with th.no_grad():
            x = intention.normalize(th.as_tensor(obs, dtype=th.float32))
            return intention.action(x).numpy().clip(-1.0, 1.0)

    return _episodes(act, venv, n_episodes, target)


def summarise(attack: str, episodes: list[dict[str, float]], target: str) -> dict[str, Any]:
    """A row: success count and rate with its Wilson interval, mean velocity and returns."""
    rule = TARGETS[target]
    k, n = sum(bool(rule.success(e)) for e in episodes), len(episodes)
    low, high = wilson(k, n)
    mean = lambda key: float(np.mean([e[key] for e in episodes]))  # noqa: E731
    return {"attack": attack, "episodes": n, "successes": k, "success_rate": k / n,
            "ci_low": low, "ci_high": high, "mean_x_velocity": mean("mean_x_velocity"),
            "mean_target_return": mean("target_return"), "mean_return": mean("return")}  # fmt: skip


def targeted_suite(
    victims: list[str] | None = None, targets: list[str] | None = None,
    seeds: list[int] | None = None, **settings: Any,
) -> list[TargetedCell]:  # fmt: skip
    """One cell per (victim, target, seed); ``settings`` are :class:`TargetedCell` fields."""
    return [TargetedCell(v, t, s, **settings) for v in victims or ["ppo-halfcheetah"]
            for t in targets or ["backward"] for s in seeds or [0]]  # fmt: skip
