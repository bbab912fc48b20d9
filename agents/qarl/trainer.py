"""QARL: Quantal Adversarial RL (Reddi et al., ICLR 2024).

Both players are SAC learners. The adversary's entropy temperature is not learned: each
episode draws ``alpha ~ Gamma(c, rate)``, appends it to the adversary's observation
(:class:`AppendTemperature`), and :class:`TemperatureSAC` uses it in its losses. A
curriculum moves ``c`` from bounded rationality (c = 50) towards full rationality (c = 1),
self-paced with a performance floor or on a linear schedule. Each iteration plays
``adversary_episodes`` episodes training the adversary, then ``protagonist_episodes``
training the protagonist (5 and 5 in the paper).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, StopTrainingOnMaxEpisodes
from stable_baselines3.common.vec_env import VecMonitor

from advrl.agents.qarl.curriculum import GammaTemperature, LinearCurriculum, SelfPacedCurriculum
from advrl.agents.qarl.sac import TemperatureSAC
from advrl.agents.qarl.temperature import AppendTemperature
from advrl.envs.agent_view import Opponent, VecAgentView
from advrl.envs.forces import ADVERSARY, PROTAGONIST, ForceAdversaryEnv
from advrl.progress import AdvanceBar, progress


class RecordEpisodes(BaseCallback):
    """Feed (temperature, protagonist return) of every finished episode to the curriculum."""

    def __init__(self, curriculum, protagonist_sign: float) -> None:
        super().__init__()
        self.curriculum, self.sign = curriculum, protagonist_sign

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if done and "episode" in info:
                self.curriculum.record(float(info["temperature"]), self.sign * info["episode"]["r"])
        return True


class QARL:
    """Train a protagonist against a temperature-curriculum SAC force adversary.

    Args:
        env_id: the MuJoCo task.
        curriculum: ``"self_paced"`` (default) or ``"linear"``.
        c_init, c_target, rate: Gamma concentration start/end and rate (paper: 50, 1, 1000).
        kl_bound, floor, update_every: self-paced step settings (paper: 0.5, task-specific
            floor, every 30 episodes).
        linear_updates: number of steps of the linear schedule.
        adversary_episodes, protagonist_episodes: episodes per phase (paper: 5 and 5).
        strength, bodies, max_force: force settings (defaults from ``FORCE_DEFAULTS``).
        sac_kwargs: extra SB3 SAC arguments for both players.
        device: torch device for both learners.

    Example:
        >>> qarl = QARL("InvertedPendulum-v5", adversary_episodes=1, protagonist_episodes=1,
        ...             sac_kwargs=dict(learning_starts=10, policy_kwargs=dict(net_arch=[8])))
        >>> qarl = qarl.learn(iterations=1)
        >>> qarl.adversary.observation_space.shape   # the task observation + the temperature
        (5,)
    """

    def __init__(
        self,
        env_id: str = "InvertedPendulum-v5",
        *,
        curriculum: str = "self_paced",
        c_init: float = 50.0,
        c_target: float = 1.0,
        rate: float = 1000.0,
        kl_bound: float = 0.5,
        floor: float = 0.0,
        update_every: int = 30,
        linear_updates: int = 20,
        adversary_episodes: int = 5,
        protagonist_episodes: int = 5,
        strength: float = 1.0,
        bodies: tuple[str, ...] | None = None,
        max_force: float | None = None,
        sac_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        device: str = "auto",
        tensorboard_log: str | None = None,
    ) -> None:
        self.temperature = GammaTemperature(c_init, rate)
        if curriculum == "self_paced":
            self.curriculum: SelfPacedCurriculum | LinearCurriculum = SelfPacedCurriculum(
                self.temperature, c_target=c_target, kl_bound=kl_bound, floor=floor,
                update_every=update_every,
            )  # fmt: skip
        elif curriculum == "linear":
            self.curriculum = LinearCurriculum(
                self.temperature, c_target=c_target, n_updates=linear_updates,
                update_every=update_every,
            )  # fmt: skip
        else:
            raise ValueError(f"unknown curriculum {curriculum!r}; allowed: 'self_paced', 'linear'")
        ForceAdversaryEnv(env_id, bodies, max_force, strength).close()  # validate eagerly

        def game() -> AppendTemperature:
            return AppendTemperature(
                ForceAdversaryEnv(env_id, bodies, max_force, strength), self.temperature
            )

        self.adversary_opponent, self.protagonist_opponent = Opponent(), Opponent()
        pro_env = VecAgentView([game], PROTAGONIST, {ADVERSARY: self.adversary_opponent})
        adv_env = VecAgentView([game], ADVERSARY, {PROTAGONIST: self.protagonist_opponent})
        pro_env.seed(seed)
        adv_env.seed(seed + 100_000)
        common = dict(device=device, tensorboard_log=tensorboard_log, **(sac_kwargs or {}))
        self.protagonist = SAC("MlpPolicy", VecMonitor(pro_env), seed=seed, **common)
        self.adversary = TemperatureSAC("MlpPolicy", VecMonitor(adv_env), seed=seed + 1, **common)
        self.adversary_opponent.model = self.adversary
        self.protagonist_opponent.model = self.protagonist
        self.adversary_episodes, self.protagonist_episodes = (
            adversary_episodes,
            protagonist_episodes,
        )

    def _phase(self, model, episodes: int, sign: float, callback, name: str, bar) -> None:
        callbacks = [StopTrainingOnMaxEpisodes(episodes), RecordEpisodes(self.curriculum, sign),
                     AdvanceBar(bar, "episodes")]  # fmt: skip
        if callback is not None:
            callbacks.append(callback)
        # The episode-count callback ends the phase; the step budget is only a safety cap.
        model.learn(10**9, callback=CallbackList(callbacks), reset_num_timesteps=False,
                    tb_log_name=name)  # fmt: skip

    def learn(
        self, iterations: int, callback=None, adversary_callback=None, progress_bar: bool = False
    ) -> QARL:
        """Run ``iterations`` x (adversary episodes, protagonist episodes).

        ``progress_bar`` shows one bar over the episodes of both sides.
        """
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations!r}")
        total = iterations * (self.adversary_episodes + self.protagonist_episodes)
        with progress(progress_bar, total, "QARL", "episode") as bar:
            for _ in range(iterations):
                self._phase(self.adversary, self.adversary_episodes, -1.0, adversary_callback,
                            "adversary", bar)  # fmt: skip
                self._phase(self.protagonist, self.protagonist_episodes, 1.0, callback,
                            "protagonist", bar)  # fmt: skip
        return self

    @property
    def concentration_history(self) -> np.ndarray:
        return np.asarray(self.curriculum.history)
