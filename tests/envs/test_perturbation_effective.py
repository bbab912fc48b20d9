"""Every perturbation wrapper changes the run exactly as specified, also after a copy.

RRLS-style effectiveness checks (DESIGN.md: "A perturbation survives every copy"). Each case
runs a perturbed env and its clean twin on the same seed and actions and checks the exact
relation between the two runs: on the original env, a deepcopy, a pickle round trip, and
inside an SB3 ``SubprocVecEnv``, which cloudpickles an already built env into worker processes.
Where the perturbation lives in the physics, the checks read the live ``MjModel`` / ``MjData``
(the ones ``mj_step`` uses), not what the wrapper reports.
"""

from __future__ import annotations

import copy
import multiprocessing
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from stable_baselines3.common.vec_env import SubprocVecEnv

from advrl.agents.smoothing.wrappers import SmoothObservation
from advrl.envs.agent_view import AgentView
from advrl.envs.cheap_talk import AddCheapTalk, FixedMessage
from advrl.envs.cheap_talk_game import CheapTalkEnv, MessagePolicy
from advrl.envs.dynamics import PerturbDynamics
from advrl.envs.hacking import cheetah_upright_true

# SubprocVecEnv's workers fork from the forkserver: import the heavy modules there once, not
# in every worker (the env itself still travels to each worker by cloudpickle).
multiprocessing.set_forkserver_preload(
    ["stable_baselines3", "gymnasium.envs.mujoco", "advrl.envs.agent_view", "advrl.envs.proxy",
     "advrl.attacks.make_env"]
)  # fmt: skip

SEED = 0
HOPPER_ACTIONS = list(np.random.default_rng(0).uniform(-0.5, 0.5, (12, 3)).astype(np.float32))
CHEETAH_ACTIONS = list(np.random.default_rng(1).uniform(-1, 1, (12, 6)).astype(np.float32))
CARTPOLE_ACTIONS = [0, 1] * 6  # alternating: the pole stays up for the whole run
MESSAGE = np.array([0.5, -1.0], np.float32)  # pre-squash; the victim hears 2 tanh(MESSAGE)


@dataclass
class Step:
    obs: Any
    reward: float | None  # None after reset
    info: dict[str, Any]
    live: Any = None  # the live physics state read by the case's probe (in-process only)


@dataclass
class Case:
    make: Callable[[], gym.Env]
    clean: Callable[[], gym.Env]
    actions: list
    check: Callable[[list[Step], list[Step]], None]
    """check(perturbed, clean): the exact relation between the two runs."""
    probe: Callable[[gym.Env], Any] | None = None
    check_live: Callable[[list[Step]], None] | None = None


def rollout(env: gym.Env, actions: list, seed: int = SEED, probe=None) -> list[Step]:
    obs, info = env.reset(seed=seed)
    steps = [Step(obs, None, info, probe(env) if probe else None)]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert not (terminated or truncated), "keep the runs short enough not to end"
        steps.append(Step(obs, float(reward), info, probe(env) if probe else None))
    return steps


def assert_trajectory_differs_after_reset(perturbed: list[Step], clean: list[Step]) -> None:
    """Same reset state, then a different state at every step."""
    np.testing.assert_array_equal(perturbed[0].obs, clean[0].obs)
    for t, (p, c) in enumerate(zip(perturbed[1:], clean[1:], strict=True), 1):
        assert np.abs(np.asarray(p.obs) - np.asarray(c.obs)).max() > 1e-9, f"same obs at {t}"


def assert_same_task_run(perturbed: list[Step], clean: list[Step]) -> None:
    """The perturbation leaves the task itself alone: same clean observations and rewards."""
    for p, c in zip(perturbed, clean, strict=True):
        np.testing.assert_array_equal(p.info["obs_clean"], c.obs)
        assert p.reward == c.reward


# Dynamics: 2x the mass and half the friction of the Hopper's torso and foot.


def _nominal_hopper() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    model = gym.make("Hopper-v5").unwrapped.model
    bodies = np.array(
        [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in ("torso", "foot")]
    )
    geoms = np.flatnonzero(np.isin(model.geom_bodyid, bodies))
    return model.body_mass.copy(), model.geom_friction[:, 0].copy(), bodies, geoms


def _physics(env: gym.Env) -> tuple[np.ndarray, np.ndarray]:
    model = env.unwrapped.model
    return model.body_mass.copy(), model.geom_friction[:, 0].copy()


def _check_dynamics(perturbed: list[Step], clean: list[Step]) -> None:
    for step in perturbed:
        assert step.info["dynamics"] == {"mass_scale": 2.0, "friction_scale": 0.5}
    assert_trajectory_differs_after_reset(perturbed, clean)


def _check_dynamics_live(perturbed: list[Step]) -> None:
    mass, friction, bodies, geoms = _nominal_hopper()
    mass[bodies] *= 2.0
    friction[geoms] *= 0.5
    for step in perturbed:
        np.testing.assert_array_equal(step.live[0], mass)
        np.testing.assert_array_equal(step.live[1], friction)


# Forces: a seeded random adversary pushes the Hopper's foot with up to 20 N per component.


def _live_xfrc(env: gym.Env) -> np.ndarray:
    # The data mj_step integrates: the task's own, reached from the top of the stack.
    return env.unwrapped.parallel_env.task.unwrapped.data.xfrc_applied.copy()


def _check_forces(perturbed: list[Step], clean: list[Step]) -> None:
    for step in perturbed[1:]:
        force = step.info["force"]
        assert force.shape == (1, 2) and 0 < np.abs(force).max() <= 20.0
    assert_trajectory_differs_after_reset(perturbed, clean)


def _check_forces_live(perturbed: list[Step]) -> None:
    foot = 4  # Hopper-v5 bodies: world, torso, thigh, leg, foot
    np.testing.assert_array_equal(perturbed[0].live, 0.0)
    for step in perturbed[1:]:
        expected = np.zeros_like(step.live)
        expected[foot, [0, 2]] = step.info["force"][0]  # planar (fx, 0, fz), no torque
        np.testing.assert_array_equal(step.live, expected)


# Observation attacks: obs - obs_clean has the reported norm, within the budget, nonzero.


def _check_observation(eps: float) -> Callable[[list[Step], list[Step]], None]:
    def check(perturbed: list[Step], clean: list[Step]) -> None:
        assert_same_task_run(perturbed, clean)
        for step in perturbed:
            delta = np.asarray(step.obs, np.float64) - step.info["obs_clean"]
            norm = step.info["attack_norm"]
            assert np.abs(delta).max() == pytest.approx(norm, rel=1e-5, abs=1e-7)
            assert 0 < norm <= eps + 1e-6

    return check


# Smoothing: obs = obs_clean + sigma * N(0, I), fresh noise in every entry.


def _check_smoothing(perturbed: list[Step], clean: list[Step]) -> None:
    for p, c in zip(perturbed, clean, strict=True):
        np.testing.assert_array_equal(p.info["obs_clean"], c.obs)
    noise = np.stack([np.asarray(p.obs, np.float64) - p.info["obs_clean"] for p in perturbed])
    assert np.all(noise != 0) and np.abs(noise).max() < 6 * 0.2
    assert 0.6 < noise.std() / 0.2 < 1.4  # 52 draws of N(0, sigma^2); the run is seeded
    assert [p.reward for p in perturbed] == [c.reward for c in clean]


# Cheap talk: the victim's observation is the clean one followed by 2 tanh(MESSAGE).


def _check_cheap_talk(perturbed: list[Step], clean: list[Step]) -> None:
    assert_same_task_run(perturbed, clean)
    heard = 2.0 * np.tanh(MESSAGE)
    for p, c in zip(perturbed, clean, strict=True):
        np.testing.assert_array_equal(p.obs[:4], c.obs)
        np.testing.assert_allclose(p.obs[4:], heard, rtol=1e-6)


def _check_cheap_talk_game(perturbed: list[Step], clean: list[Step]) -> None:
    assert_same_task_run(perturbed, clean)
    np.testing.assert_array_equal(perturbed[0].obs[4:], 0.0)  # nothing said before the reset
    for p, c in zip(perturbed[1:], clean[1:], strict=True):
        np.testing.assert_array_equal(p.obs[:4], c.obs)
        np.testing.assert_allclose(p.obs[4:], 2.0 * np.tanh(MESSAGE), rtol=1e-6)


# Proxy rewards: the reward is the proxy function, the true reward is the clean one.


def _check_hopper_lunge(perturbed: list[Step], clean: list[Step]) -> None:
    for p, c in zip(perturbed[1:], clean[1:], strict=True):
        np.testing.assert_array_equal(p.obs, c.obs)
        assert p.reward == p.info["reward_proxy"] == p.info["x_velocity"]
        assert p.info["reward_true"] == c.reward
        assert p.reward != c.reward


def _check_cheetah_upright(perturbed: list[Step], clean: list[Step]) -> None:
    for prev, p, c, action in zip(
        perturbed[:-1], perturbed[1:], clean[1:], CHEETAH_ACTIONS, strict=True
    ):
        np.testing.assert_array_equal(p.obs, c.obs)
        assert p.reward == p.info["reward_proxy"] == c.reward
        assert p.info["reward_true"] == cheetah_upright_true(prev.obs, action, p.obs, p.info)


CASES: dict[str, Case] = {
    "dynamics": Case(
        lambda: PerturbDynamics(
            gym.make("Hopper-v5"), mass_scale=2.0, friction_scale=0.5, bodies=["torso", "foot"]
        ),
        lambda: gym.make("Hopper-v5"),
        HOPPER_ACTIONS,
        _check_dynamics,
        _physics,
        _check_dynamics_live,
    ),
    "forces": Case(
        lambda: gym.make("advrl/HopperForce-v0", adversary="random", max_force=20.0),
        lambda: gym.make("Hopper-v5"),
        HOPPER_ACTIONS,
        _check_forces,
        _live_xfrc,
        _check_forces_live,
    ),
    "observation-noise": Case(
        lambda: gym.make(
            "advrl/PerturbedObservation-v0", env_id="CartPole-v1", attack="uniform", eps=0.1
        ),
        lambda: gym.make("CartPole-v1"),
        CARTPOLE_ACTIONS,
        _check_observation(0.1),
    ),
    "observation-pgd": Case(
        lambda: gym.make(
            "advrl/PerturbedObservation-v0",
            env_id="CartPole-v1",
            attack="pgd",
            eps=0.05,
            victim="ppo-cartpole",
            space="raw",
        ),  # fmt: skip
        lambda: gym.make("CartPole-v1"),
        CARTPOLE_ACTIONS,
        _check_observation(0.05),
    ),
    "smoothing": Case(
        lambda: SmoothObservation(gym.make("CartPole-v1"), sigma=0.2),
        lambda: gym.make("CartPole-v1"),
        CARTPOLE_ACTIONS,
        _check_smoothing,
    ),
    "cheap-talk": Case(
        lambda: AddCheapTalk(gym.make("CartPole-v1"), FixedMessage(MESSAGE), scale=2.0),
        lambda: gym.make("CartPole-v1"),
        CARTPOLE_ACTIONS,
        _check_cheap_talk,
    ),
    "cheap-talk-game": Case(
        lambda: AgentView(
            CheapTalkEnv("CartPole-v1", scale=2.0),
            "victim",
            {"adversary": MessagePolicy(FixedMessage(MESSAGE))},
        ),  # fmt: skip
        lambda: gym.make("CartPole-v1"),
        CARTPOLE_ACTIONS,
        _check_cheap_talk_game,
    ),
    "proxy-hopper-lunge": Case(
        lambda: gym.make("advrl/HopperLunge-v0"),
        lambda: gym.make("Hopper-v5"),
        HOPPER_ACTIONS,
        _check_hopper_lunge,
    ),
    "proxy-cheetah-upright": Case(
        lambda: gym.make("advrl/HalfCheetahUpright-v0"),
        lambda: gym.make("HalfCheetah-v5"),
        CHEETAH_ACTIONS,
        _check_cheetah_upright,
    ),
}

COPIES: dict[str, Callable[[gym.Env], gym.Env]] = {
    "original": lambda env: env,
    "deepcopy": copy.deepcopy,
    "pickle": lambda env: pickle.loads(pickle.dumps(env)),
}


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("name", CASES)
def test_the_perturbation_is_effective_after_a_copy(name, how):
    case = CASES[name]
    reference = rollout(case.make(), case.actions)
    env = COPIES[how](case.make())  # built, then copied: what SubprocVecEnv and Ray do
    perturbed = rollout(env, case.actions, probe=case.probe)
    case.check(perturbed, rollout(case.clean(), case.actions))
    if case.check_live is not None:
        case.check_live(perturbed)
    for p, r in zip(perturbed, reference, strict=True):  # the copy runs as the original
        np.testing.assert_array_equal(p.obs, r.obs)
        assert p.reward == r.reward


@pytest.mark.parametrize("name", CASES)
def test_the_perturbation_is_effective_in_a_subproc_vec_env(name):
    case = CASES[name]
    built = case.make()
    venv = SubprocVecEnv([lambda: built, lambda: built])  # each worker unpickles a copy
    try:
        venv.seed(SEED)  # worker i resets with seed SEED + i
        obs = venv.reset()
        runs = [[Step(obs[i], None, venv.reset_infos[i])] for i in range(2)]
        for action in case.actions:
            obs, rewards, dones, infos = venv.step(np.stack([action, action]))
            assert not dones.any()
            for i in range(2):
                runs[i].append(Step(obs[i], float(rewards[i]), infos[i]))
    finally:
        venv.close()
    for i, run in enumerate(runs):
        case.check(run, rollout(case.clean(), case.actions, seed=SEED + i))
        reference = rollout(case.make(), case.actions, seed=SEED + i)
        for p, r in zip(run, reference, strict=True):
            np.testing.assert_array_equal(p.obs, r.obs)
            assert p.reward == r.reward


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copy_made_mid_episode_keeps_the_scaled_physics(how):
    env = PerturbDynamics(gym.make("Hopper-v5"), mass_scale=2.0, bodies=["torso"])
    env.reset(seed=0)
    twin = COPIES[how](env)
    mass, _, _, _ = _nominal_hopper()
    mass[1] *= 2.0
    np.testing.assert_array_equal(twin.unwrapped.model.body_mass, mass)  # before any reset
    assert twin.step(HOPPER_ACTIONS[0])[-1]["dynamics"]["mass_scale"] == 2.0


def test_make_vec_async_applies_the_perturbations_in_its_workers():
    # gym.make_vec(..., "async") builds each env from its spec in a worker process.
    envs = gym.make_vec("advrl/PerturbedObservation-v0", num_envs=2, vectorization_mode="async",
                        env_id="CartPole-v1", attack="uniform", eps=0.05, seed=0)  # fmt: skip
    try:
        obs, info = envs.reset(seed=0)
        for _ in range(3):
            obs, _, _, _, info = envs.step(np.zeros(2, dtype=np.int64))
            gap = np.abs(obs - info["obs_clean"]).max(axis=1)
            np.testing.assert_allclose(gap, info["attack_norm"], rtol=1e-5)
            assert (gap > 0).all() and (gap <= 0.05 + 1e-6).all()
    finally:
        envs.close()
    actions = np.tile(np.zeros(3, dtype=np.float32), (2, 1))
    forced = gym.make_vec("advrl/HopperForce-v0", num_envs=2, vectorization_mode="async",
                          adversary="random", strength=1.0)  # fmt: skip
    clean = gym.make_vec("Hopper-v5", num_envs=2, vectorization_mode="async")
    try:
        a, _ = forced.reset(seed=0)
        b, _ = clean.reset(seed=0)
        np.testing.assert_array_equal(a, b)  # same start: only the forces differ
        for _ in range(10):
            a, *_ = forced.step(actions)
            b, *_ = clean.step(actions)
        assert np.abs(a - b).max() > 1e-3  # the workers' physics felt the forces
    finally:
        forced.close()
        clean.close()
