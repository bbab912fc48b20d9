"""Does a Lipschitz-regularised critic weaken the critic attack?

Zheng et al. (ICLR 2023) regularise the value function with spectral normalisation or an
adversarial-noise penalty; an attack that descends the victim's own ``V`` (advrl's
:class:`~advrl.attacks.gradient.CriticAttack`, Pattanaik et al. 2018) should then find less
to exploit. Protocol per (env, variant, seed): train :class:`~advrl.agents.lipschitz_critics.
LipschitzPPO` with one regulariser (or none), timing ``learn()`` (the training-throughput
ratio to the vanilla cell of the same seed is the regulariser's cost); evaluate the
deterministic policy clean and under the critic attack at each ``eps``; on states the clean
policy visits, measure how far the attack lowers ``V`` (absolute, and relative to the spread
of ``V`` over those states) and ``V``'s local Lipschitz estimate.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from advrl.bench.cells import config_key

VARIANTS = ("vanilla", "spectral_norm", "gradient_penalty", "adversarial")
STRENGTHS_OF = {"spectral_norm": ("value_lipschitz",), "gradient_penalty": ("gp_target", "gp_coef"),
                "adversarial": ("adv_eps", "adv_coef")}  # fmt: skip
"""The settings of each variant's regulariser (part of its cells' keys; others ignore them)."""
STRENGTHS = tuple(name for names in STRENGTHS_OF.values() for name in names)


@dataclass(frozen=True)
class Task:
    """PPO settings of one env and its regularisers' strengths."""

    steps: int
    ppo: dict
    eps: tuple[float, ...]
    n_envs: int = 8


TASKS: dict[str, Task] = {
    # The zoo's ppo-cartpole settings (advrl/zoo/ppo-cartpole.json), at half its budget.
    "CartPole-v1": Task(100_000, dict(
        n_steps=256, batch_size=256, n_epochs=10, learning_rate=1e-3, gamma=0.98,
        gae_lambda=0.8, policy_kwargs=dict(net_arch=dict(pi=[32, 32], vf=[32, 32]))),
        (0.05, 0.1, 0.2)),
}  # fmt: skip


@dataclass(frozen=True)
class CriticLipschitzCell:
    """Train one (regularised) PPO critic, then attack it through its own value.

    ``steps`` = 0 takes the task's default; ``eps`` = () the task's budgets. The
    regulariser settings apply to their variant only (the others ignore them).
    """

    env: str
    variant: str
    seed: int = 0
    steps: int = 0
    eps: tuple[float, ...] = ()
    episodes: int = 20
    value_lipschitz: float = 100.0
    gp_target: float = 25.0
    gp_coef: float = 0.1
    adv_eps: float = 0.05
    adv_coef: float = 0.02
    value_states: int = 2000

    kind: ClassVar[str] = "critic_lipschitz"

    def __post_init__(self) -> None:
        if self.env not in TASKS:
            raise ValueError(f"unknown env {self.env!r}; allowed: {sorted(TASKS)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {list(VARIANTS)}")
        if self.steps < 0 or self.episodes < 1 or self.value_states < 1:
            raise ValueError(f"need steps >= 0 (0: the task's default), episodes >= 1 and "
                             f"value_states >= 1, got {self.steps}, {self.episodes}, "
                             f"{self.value_states}")  # fmt: skip
        if any(not (e > 0) for e in self.eps):
            raise ValueError(f"every eps must be > 0, got {self.eps!r}")
        for name in STRENGTHS:
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def label(self) -> str:
        return f"{self.env} {self.variant} s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        config = {"kind": self.kind, **asdict(self)}
        config["eps"] = list(self.eps)
        # Only the variant's own strength is part of its key: vanilla cells are shared.
        for name in STRENGTHS:
            if name not in STRENGTHS_OF.get(self.variant, ()):
                del config[name]
        return config

    @property
    def key(self) -> str:
        return config_key(f"critic-lipschitz-{self.env}-{self.variant}-s{self.seed}",
                          self.to_dict())  # fmt: skip

    def regularizer(self) -> dict[str, Any]:
        """The :class:`~advrl.agents.lipschitz_critics.LipschitzPPO` arguments of the variant."""
        if self.variant == "spectral_norm":
            return {"spectral_norm": True, "value_lipschitz": self.value_lipschitz}
        if self.variant == "gradient_penalty":
            return {"value_penalty": "gradient", "gp_target": self.gp_target,
                    "penalty_coef": self.gp_coef}  # fmt: skip
        if self.variant == "adversarial":
            return {"value_penalty": "adversarial", "adv_eps": self.adv_eps,
                    "penalty_coef": self.adv_coef}  # fmt: skip
        return {}

    def run(self) -> dict[str, Any]:
        model, train = _train(self)
        eps = self.eps or TASKS[self.env].eps
        return {**train, **_attack(self, model, eps)}


def _train(cell: CriticLipschitzCell):
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from advrl.agents.lipschitz_critics import LipschitzPPO

    task = TASKS[cell.env]
    steps = cell.steps or task.steps

    class Lipschitz(BaseCallback):  # train/value_lipschitz after each update
        def __init__(self) -> None:
            super().__init__()
            self.curve: list[list[float]] = []

        def _on_rollout_start(self) -> None:
            value = self.model.logger.name_to_value.get("train/value_lipschitz")
            if value is not None:
                self.curve.append([float(self.num_timesteps), float(value)])

        def _on_step(self) -> bool:
            return True

    venv = make_vec_env(cell.env, task.n_envs, seed=cell.seed)
    model = LipschitzPPO("MlpPolicy", venv, seed=cell.seed, device="cpu",
                         **task.ppo, **cell.regularizer())  # fmt: skip
    callback = Lipschitz()
    start = time.perf_counter()
    model.learn(steps, callback=callback)
    seconds = time.perf_counter() - start
    final = model.logger.name_to_value.get("train/value_lipschitz")
    callback.curve.append([float(model.num_timesteps), float(final)])
    venv.close()
    train = {"train_seconds": seconds, "train_fps": model.num_timesteps / seconds,
             "steps": int(model.num_timesteps), "lipschitz_curve": callback.curve}  # fmt: skip
    return model, train


def _visited_states(cell: CriticLipschitzCell, model) -> np.ndarray:
    """Observations of the deterministic clean policy, ``value_states`` of them."""
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(cell.env, 8, seed=50_000 + cell.seed)
    obs, states = venv.reset(), []
    while len(states) * 8 < cell.value_states:
        states.append(obs)
        obs, *_ = venv.step(model.predict(obs, deterministic=True)[0])
    venv.close()
    return np.concatenate(states)[: cell.value_states].astype(np.float32)


def _attack(cell: CriticLipschitzCell, model, eps: tuple[float, ...]) -> dict[str, Any]:
    import torch as th

    from advrl.agents.lipschitz import gradient_norms
    from advrl.attacks.evaluate import evaluate_under_attack
    from advrl.attacks.gradient import CriticAttack
    from advrl.policies import from_sb3

    victim = from_sb3(model)  # eval mode: spectral norm uses its stored estimate
    seed = 10_000 + cell.seed

    def returns(attack):
        result = evaluate_under_attack(model, cell.env, attack, cell.episodes, n_envs=10,
                                       seed=seed)  # fmt: skip
        return result.returns.tolist()

    obs = th.as_tensor(_visited_states(cell, model))
    with th.no_grad():
        v_clean = victim.value(obs)
    norms = gradient_norms(victim.value, [obs], create_graph=False)
    out: dict[str, Any] = {
        "clean_returns": returns(None),
        "v_mean": float(v_clean.mean()),
        "v_std": float(v_clean.std()),
        "lipschitz_max": float(norms.max()),
        "lipschitz_mean": float(norms.mean()),
        "attacked": {},
    }
    for e in eps:
        attack = CriticAttack(eps=e)
        adv = attack(obs, victim, th.Generator().manual_seed(seed))
        with th.no_grad():
            drop = (v_clean - victim.value(adv)).mean().item()
        out["attacked"][f"{e:g}"] = {"returns": returns(attack), "v_drop": drop,
                                     "v_drop_rel": drop / max(out["v_std"], 1e-8)}  # fmt: skip
    out["mean_return"] = float(np.mean(out["clean_returns"]))
    return out


def critic_lipschitz_suite(
    envs: list[str], variants: list[str], seeds: list[int], steps: int = 0,
    eps: list[float] | None = None, episodes: int = 20, **settings: Any,
) -> list[CriticLipschitzCell]:  # fmt: skip
    """One cell per env, variant and seed; ``settings`` are :class:`CriticLipschitzCell`
    regulariser fields (:data:`STRENGTHS`: ``value_lipschitz``, ``gp_target``, ``gp_coef``,
    ``adv_eps``, ``adv_coef``).

    The cells of a seed run one after another in one process, so their throughputs compare.
    """
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; allowed: {list(VARIANTS)}")
    return [
        CriticLipschitzCell(env, variant, seed, steps, tuple(eps or ()), episodes, **settings)
        for env in envs
        for seed in seeds
        for variant in variants
    ]


REPORT = ("write_critic_lipschitz_report", "critic_lipschitz_figure")


def __getattr__(name: str):
    # The report lives in its own module (it imports this one); re-exported lazily.
    if name in REPORT:
        from advrl.bench import critic_lipschitz_report

        return getattr(critic_lipschitz_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
