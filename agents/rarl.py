"""RARL: Robust Adversarial Reinforcement Learning (Pinto et al., ICML 2017).

Two SB3 learners play the zero-sum force game of :class:`~advrl.envs.forces.ForceAdversaryEnv`:
the protagonist maximises the task reward while the adversary, pushing bodies with bounded
planar forces, minimises it. Training alternates a protagonist phase (adversary frozen) and
an adversary phase (protagonist frozen). Each side trains in its own
:class:`~advrl.envs.agent_view.VecAgentView`, whose opponent is the other learner's current
policy, read live, in one batched call per step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecMonitor

from advrl.envs.agent_view import Opponent, VecAgentView
from advrl.envs.forces import ADVERSARY, PROTAGONIST, ForceAdversaryEnv
from advrl.progress import AdvanceBar, progress
from advrl.zoo.checkpoint import policy_kwargs_from_json, policy_kwargs_to_json

ALGOS: dict[str, type[BaseAlgorithm]] = {"PPO": PPO, "SAC": SAC, "TD3": TD3}


def make_learner(
    algo: str,
    env,
    *,
    seed: int,
    device: str,
    tensorboard_log: str | None,
    kwargs: dict[str, Any] | None,
) -> BaseAlgorithm:
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; allowed: {sorted(ALGOS)}")
    return ALGOS[algo](
        "MlpPolicy", env, seed=seed, device=device, tensorboard_log=tensorboard_log,
        **(kwargs or {}),
    )  # fmt: skip


def _kwargs_to_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if "policy_kwargs" in out:
        out["policy_kwargs"] = policy_kwargs_to_json(out["policy_kwargs"])
    return out


def _kwargs_from_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if "policy_kwargs" in out:
        out["policy_kwargs"] = policy_kwargs_from_json(out["policy_kwargs"])
    return out


class RARL:
    """Alternate protagonist and adversary training on a two-player MuJoCo force game.

    Args:
        env_id: the MuJoCo task (``ForceAdversaryEnv`` defaults give bodies and max force).
        algo, adversary_algo: ``"PPO"`` (default), ``"SAC"`` or ``"TD3"`` per side.
        n_envs: parallel copies of the game per side.
        protagonist_steps, adversary_steps: env steps per phase (default: one PPO rollout,
            ``n_steps * n_envs``, i.e. one iteration each as in the paper).
        strength: fraction of ``max_force`` the adversary may use (RARL trains at 0.25).
        bodies, max_force: override the env's force defaults.
        algo_kwargs, adversary_kwargs: extra SB3 constructor arguments per side.
        device: torch device for both learners (``"cuda"`` works when available).
        tensorboard_log: folder for both sides' TensorBoard logs (runs "protagonist"
            and "adversary").

    Example:
        >>> rarl = RARL("InvertedPendulum-v5", n_envs=2, algo_kwargs=dict(n_steps=64,
        ...             batch_size=64, policy_kwargs=dict(net_arch=[8])))
        >>> rarl = rarl.learn(iterations=1)
        >>> rarl.protagonist.num_timesteps, rarl.adversary.num_timesteps
        (128, 128)
    """

    def __init__(
        self,
        env_id: str = "InvertedPendulum-v5",
        *,
        algo: str = "PPO",
        adversary_algo: str | None = None,
        n_envs: int = 8,
        protagonist_steps: int | None = None,
        adversary_steps: int | None = None,
        strength: float = 1.0,
        bodies: tuple[str, ...] | None = None,
        max_force: float | None = None,
        algo_kwargs: dict[str, Any] | None = None,
        adversary_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        tensorboard_log: str | None = None,
    ) -> None:
        adversary_algo = adversary_algo or algo
        if adversary_kwargs is None:  # share settings only between learners of one kind
            adversary_kwargs = algo_kwargs if adversary_algo == algo else {}
        self.config = {
            "env_id": env_id, "algo": algo, "adversary_algo": adversary_algo,
            "n_envs": n_envs, "protagonist_steps": protagonist_steps,
            "adversary_steps": adversary_steps, "strength": strength,
            "bodies": list(bodies) if bodies else None, "max_force": max_force,
            "algo_kwargs": algo_kwargs or {}, "adversary_kwargs": adversary_kwargs or {},
            "seed": seed,
        }  # fmt: skip
        ForceAdversaryEnv(env_id, bodies, max_force, strength).close()  # validate eagerly

        def game() -> ForceAdversaryEnv:
            return ForceAdversaryEnv(env_id, bodies, max_force, strength)

        self.adversary_opponent = Opponent()
        self.protagonist_opponent = Opponent()
        pro_env = VecAgentView([game] * n_envs, PROTAGONIST, {ADVERSARY: self.adversary_opponent})
        adv_env = VecAgentView([game] * n_envs, ADVERSARY, {PROTAGONIST: self.protagonist_opponent})
        pro_env.seed(seed)
        adv_env.seed(seed + 100_000)
        common = dict(device=device, tensorboard_log=tensorboard_log)
        self.protagonist = make_learner(
            algo, VecMonitor(pro_env), seed=seed, kwargs=self.config["algo_kwargs"], **common
        )
        self.adversary = make_learner(
            self.config["adversary_algo"], VecMonitor(adv_env), seed=seed + 1,
            kwargs=self.config["adversary_kwargs"], **common,
        )  # fmt: skip
        self.adversary_opponent.model = self.adversary
        self.protagonist_opponent.model = self.protagonist
        self.protagonist_steps = protagonist_steps or self._rollout_size(self.protagonist)
        self.adversary_steps = adversary_steps or self._rollout_size(self.adversary)

    @staticmethod
    def _rollout_size(model: BaseAlgorithm) -> int:
        n_steps = getattr(model, "n_steps", 1000)  # off-policy: 1000 steps per phase
        return n_steps * model.n_envs

    def learn(
        self,
        iterations: int,
        callback: BaseCallback | None = None,
        adversary_callback: BaseCallback | None = None,
        progress_bar: bool = False,
    ) -> RARL:
        """Run ``iterations`` x (protagonist phase, adversary phase).

        ``progress_bar`` shows one bar over the env steps of both sides (SB3's bar would
        draw one per phase).
        """
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations!r}")
        total = iterations * (self.protagonist_steps + self.adversary_steps)
        with progress(progress_bar, total, "RARL", "step") as bar:
            for _ in range(iterations):
                for model, steps, user, name in (
                    (self.protagonist, self.protagonist_steps, callback, "protagonist"),
                    (self.adversary, self.adversary_steps, adversary_callback, "adversary"),
                ):
                    callbacks = [AdvanceBar(bar), *([user] if user is not None else [])]
                    model.learn(steps, callback=CallbackList(callbacks),
                                reset_num_timesteps=False, tb_log_name=name)  # fmt: skip
        return self

    def save(self, path: str | Path) -> None:
        """Write ``protagonist.zip``, ``adversary.zip`` (SB3 format) and ``rarl.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.protagonist.save(path / "protagonist.zip")
        self.adversary.save(path / "adversary.zip")
        config = dict(self.config)
        for key in ("algo_kwargs", "adversary_kwargs"):
            config[key] = _kwargs_to_json(config[key])
        (path / "rarl.json").write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> RARL:
        """Rebuild a saved pair. Only the weights are read from the zips
        (``set_parameters``), but SB3 zips are still a format to load only from sources
        you trust."""
        path = Path(path)
        config_path = path / "rarl.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"no rarl.json in {str(path)!r}: not a saved RARL pair")
        config = json.loads(config_path.read_text())
        config["bodies"] = tuple(config["bodies"]) if config["bodies"] else None
        for key in ("algo_kwargs", "adversary_kwargs"):
            config[key] = _kwargs_from_json(config[key])
        rarl = cls(**config, device=device)
        rarl.protagonist.set_parameters(str(path / "protagonist.zip"), device=device)
        rarl.adversary.set_parameters(str(path / "adversary.zip"), device=device)
        return rarl
