"""Force adversaries, agent views and dynamics perturbations on MuJoCo."""

import gymnasium as gym
import numpy as np
import pettingzoo
import pytest
import torch as th
from pettingzoo.test import parallel_api_test

from advrl.envs.agent_view import AgentView, Opponent, VecAgentView
from advrl.envs.dynamics import PerturbDynamics
from advrl.envs.forces import ADVERSARY, PROTAGONIST, ForceAdversaryEnv
from advrl.registration import PARALLEL_ENVS


@pytest.mark.parametrize("entry", PARALLEL_ENVS, ids=lambda e: e.id)
def test_parallel_api_on_every_two_player_env(entry):
    parallel_api_test(pettingzoo.make("parallel", entry.id), num_cycles=30)


def pole_x(env, force_x, steps=10):
    obs, _ = env.reset(seed=0)
    action = {PROTAGONIST: np.zeros(1, dtype=np.float32), ADVERSARY: np.array([force_x, 0.0])}
    for _ in range(steps):
        env.step(action)
    return float(env.data.xpos[env.body_ids[0], 0])


def test_a_constant_force_moves_the_body_the_expected_way():
    env = ForceAdversaryEnv("InvertedPendulum-v5")
    free, pushed, pulled = pole_x(env, 0.0), pole_x(env, 1.0), pole_x(env, -1.0)
    assert pushed > free + 1e-3 and pulled < free - 1e-3  # +x force moves the pole to +x


def test_vertical_force_lifts_the_hopper_foot():
    def foot_z(fz):
        env = ForceAdversaryEnv("Hopper-v5", max_force=50.0)
        env.reset(seed=0)
        for _ in range(5):
            env.step({PROTAGONIST: np.zeros(3, dtype=np.float32), ADVERSARY: np.array([0.0, fz])})
        return float(env.data.xpos[env.body_ids[0], 2])

    assert foot_z(1.0) > foot_z(0.0) > foot_z(-1.0)


def test_force_is_bounded_zero_sum_and_reported():
    env = ForceAdversaryEnv("HalfCheetah-v5", strength=0.25)
    env.reset(seed=0)
    _, rewards, _, _, infos = env.step(
        {PROTAGONIST: np.zeros(6, dtype=np.float32), ADVERSARY: np.full(6, 5.0)}  # clipped
    )
    assert rewards[ADVERSARY] == -rewards[PROTAGONIST] == -infos[PROTAGONIST]["reward_true"]
    np.testing.assert_allclose(infos[ADVERSARY]["force"], np.full((3, 2), 0.25))
    applied = env.data.xfrc_applied[env.body_ids]
    np.testing.assert_allclose(applied[:, [0, 2]], 0.25)
    assert np.all(applied[:, [1, 3, 4, 5]] == 0)  # planar, no torque


def test_bad_input_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"unknown body name\(s\) \['tail'\]; valid bodies: \['cart', 'pole'\]"
    ):
        ForceAdversaryEnv("InvertedPendulum-v5", bodies=["tail"])
    with pytest.raises(ValueError, match="max_force must be a finite number >= 0, got -1.0"):
        ForceAdversaryEnv("InvertedPendulum-v5", max_force=-1.0)
    with pytest.raises(ValueError, match="no force defaults"):
        ForceAdversaryEnv("Ant-v5")
    env = ForceAdversaryEnv("InvertedPendulum-v5")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions are for agents \['hero'\]"):
        env.step({"hero": np.zeros(1)})
    with pytest.raises(ValueError, match=r"opponents are given for \['attacker'\]"):
        AgentView(env, PROTAGONIST, {"attacker": "random"})
    with pytest.raises(ValueError, match="unknown agent 'referee'"):
        AgentView(env, "referee", {})
    with pytest.raises(ValueError, match="unknown opponent 'smart'"):
        AgentView(env, PROTAGONIST, {ADVERSARY: "smart"})


@pytest.mark.parametrize("adversary", ["none", "random"])
def test_protagonist_view_ids_are_seeded(adversary):
    def rollout():
        env = gym.make("advrl/HopperForce-v0", adversary=adversary)
        obs, _ = env.reset(seed=3)
        env.action_space.seed(3)
        out = [obs]
        for _ in range(10):
            out.append(env.step(env.action_space.sample())[0])
        return np.stack(out)

    np.testing.assert_array_equal(rollout(), rollout())


def test_vec_agent_view_calls_each_opponent_once_per_step():
    calls = []

    def opponent(batch):
        calls.append(batch.shape)
        return np.zeros((len(batch), 2))

    venv = VecAgentView([lambda: ForceAdversaryEnv("InvertedPendulum-v5")] * 4, PROTAGONIST,
                        {ADVERSARY: opponent})  # fmt: skip
    venv.seed(0)
    venv.reset()
    for _ in range(30):
        _, _, dones, infos = venv.step(np.zeros((4, 1), dtype=np.float32))
    assert calls == [(4, 4)] * 30
    single = AgentView(ForceAdversaryEnv("InvertedPendulum-v5"), PROTAGONIST, {ADVERSARY: "zero"})
    obs0, _ = single.reset(seed=0)
    fresh = VecAgentView([lambda: ForceAdversaryEnv("InvertedPendulum-v5")], PROTAGONIST,
                         {ADVERSARY: "zero"})  # fmt: skip
    fresh.seed(0)
    np.testing.assert_array_equal(fresh.reset()[0], obs0)


def test_opponent_needs_a_model():
    with pytest.raises(RuntimeError, match="no model yet"):
        Opponent()(np.zeros((1, 4)))


def test_perturb_dynamics_changes_masses_frictions_and_the_trajectory():
    def final_x(mass, friction):
        env = PerturbDynamics(gym.make("HalfCheetah-v5"), mass, friction)
        _, info = env.reset(seed=0)
        assert info["dynamics"] == {"mass_scale": mass, "friction_scale": friction}
        for _ in range(50):
            env.step(np.full(6, 0.5, dtype=np.float32))
        return float(env.unwrapped.data.qpos[0]), env

    x_base, env = final_x(1.0, 1.0)
    base_mass = env.unwrapped.model.body_mass.copy()
    x_heavy, env = final_x(2.0, 1.0)
    np.testing.assert_allclose(env.unwrapped.model.body_mass[1:], 2 * base_mass[1:])
    x_slippery, env = final_x(1.0, 0.2)
    assert x_heavy != pytest.approx(x_base, abs=1e-3)
    assert x_slippery != pytest.approx(x_base, abs=1e-3)


def test_perturb_dynamics_ranges_are_sampled_per_seeded_reset():
    env = PerturbDynamics(gym.make("Hopper-v5"), mass_scale=(0.5, 1.5), bodies=["torso"])
    draws = [env.reset(seed=s)[1]["dynamics"]["mass_scale"] for s in (0, 1, 0)]
    assert draws[0] == draws[2] != draws[1]
    assert all(0.5 <= d <= 1.5 for d in draws)
    torso = env.unwrapped.model.body_mass[1]
    assert torso != pytest.approx(env.base_mass[1]) or draws[2] == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, (1.5, 0.5), float("nan")])
def test_perturb_dynamics_bad_scales(bad):
    with pytest.raises(ValueError, match="mass_scale must be"):
        PerturbDynamics(gym.make("Hopper-v5"), mass_scale=bad)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mass_scale": "x"}, TypeError, r"mass_scale must be a number > 0 or a range \(low, high\)"
         r" with 0 < low <= high, got 'x'"),
        ({"friction_scale": (0.5, 1.0, 2.0)}, TypeError, "friction_scale must be a number"),
        ({"mass_scale": True}, TypeError, "mass_scale must be a number > 0 .* got True"),
        ({"bodies": "torso"}, TypeError,
         r"bodies must be a list or tuple of body names, got 'torso'; did you mean \['torso'\]\?"),
        ({"bodies": ["torso", 3]}, TypeError, "bodies must be a list or tuple of body names"),
    ],
)  # fmt: skip
def test_perturb_dynamics_bad_types_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        PerturbDynamics(gym.make("Hopper-v5"), **kwargs)


def test_force_bodies_must_be_a_list_not_a_name():
    with pytest.raises(TypeError, match=r"got 'pole'; did you mean \['pole'\]\?"):
        ForceAdversaryEnv("InvertedPendulum-v5", bodies="pole")


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
def test_opponent_fast_path_matches_sb3_predict(env_id):
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", gym.make(env_id), seed=0, policy_kwargs=dict(net_arch=[8]))
    obs = np.stack([model.observation_space.sample() for _ in range(64)])
    expected, _ = model.predict(obs, deterministic=True)
    np.testing.assert_allclose(Opponent(model, deterministic=True)(obs), expected, atol=1e-6)
    sampled = Opponent(model)(np.repeat(obs[:1], 4000, axis=0))
    if env_id == "CartPole-v1":  # sampled actions follow the policy's probabilities
        probs = th.softmax(
            model.policy.get_distribution(th.as_tensor(obs[:1])).distribution.logits, -1
        )
        assert sampled.mean() == pytest.approx(float(probs[0, 1]), abs=0.03)
    else:
        low, high = model.action_space.low, model.action_space.high
        assert sampled.min() >= low.min() and sampled.max() <= high.max()
        assert sampled.std() > 0.3  # exploration noise is there (std 1 before clipping)
