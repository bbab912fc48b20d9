"""PerturbObservation and VecPerturbObservation: contract, equality, composition."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from advrl.attacks import (
    PGD,
    GaussianNoise,
    PerturbObservation,
    UniformNoise,
    VecPerturbObservation,
    make_attack,
)
from advrl.testing import LinearPolicy, check_attack_wrapper
from advrl.zoo import frozen_vec_normalize


def cartpole_policy():
    return LinearPolicy(th.tensor([[0.0, 1.0, 2.0, 1.0], [0.0, -1.0, -2.0, -1.0]]), discrete=True)


@pytest.mark.parametrize("attack", ["uniform", "gaussian", "fgsm", "pgd", "mad", "targeted"])
def test_attacked_cartpole_passes_gymnasium_checks(attack, cartpole_victim):
    env = PerturbObservation(
        gym.make("CartPole-v1"), make_attack(attack, 0.2), cartpole_victim.torch_policy(), seed=0
    )
    check_attack_wrapper(env)


def test_attacked_halfcheetah_passes_gymnasium_checks(halfcheetah_victim):
    env = PerturbObservation(
        gym.make("HalfCheetah-v5"), PGD(0.15, steps=3), halfcheetah_victim.torch_policy()
    )
    check_attack_wrapper(env, n_steps=10)


def test_vec_wrapper_equals_gym_wrapper_for_one_env():
    policy = cartpole_policy()
    for attack in (UniformNoise(0.1), GaussianNoise(0.1), PGD(0.1)):
        env = PerturbObservation(gym.make("CartPole-v1"), attack, policy)
        venv = VecPerturbObservation(DummyVecEnv([lambda: gym.make("CartPole-v1")]), attack, policy)
        venv.seed(7)
        obs_v = venv.reset()
        obs_g, _ = env.reset(seed=7)
        np.testing.assert_array_equal(obs_v[0], obs_g)
        for _ in range(30):
            obs_v, _, done, infos = venv.step(np.array([1]))
            obs_g, _, term, trunc, info = env.step(1)
            if done[0]:
                break
            np.testing.assert_array_equal(obs_v[0], obs_g)
            np.testing.assert_array_equal(infos[0]["obs_clean"], info["obs_clean"])
            assert infos[0]["attack_norm"] == info["attack_norm"]


def test_vec_wrapper_attacks_all_envs_in_one_batched_call():
    policy = cartpole_policy()
    calls = []

    class CountingPGD(PGD):
        def perturb(self, obs, policy, generator):
            calls.append(obs.shape[0])
            return super().perturb(obs, policy, generator)

    attack = CountingPGD(0.1, random_start=False)
    venv = VecPerturbObservation(DummyVecEnv([lambda: gym.make("CartPole-v1")] * 4), attack, policy)
    venv.seed(0)
    batched = venv.reset()
    assert calls == [4]
    singles = [
        PerturbObservation(gym.make("CartPole-v1"), PGD(0.1, random_start=False), policy).reset(
            seed=i
        )[0]
        for i in range(4)
    ]
    np.testing.assert_allclose(batched, np.stack(singles), atol=1e-7)


def test_attack_in_normalised_space_hands_back_raw_observations(halfcheetah_victim):
    policy = halfcheetah_victim.torch_policy()
    eps = 0.15
    raw_venv = DummyVecEnv([lambda: gym.make("HalfCheetah-v5")] * 3)
    attacked = VecPerturbObservation(raw_venv, UniformNoise(eps), policy, seed=0)
    stack = frozen_vec_normalize(attacked, halfcheetah_victim.obs_stats)
    stack.seed(0)
    seen = stack.reset()  # what the model sees: normalised perturbed observations
    clean = policy.normalize(th.as_tensor(attacked.last_clean, dtype=th.float32)).numpy()
    delta = seen - clean
    assert np.abs(delta).max() <= eps + 1e-5
    assert np.abs(delta).max() > 0.5 * eps  # the perturbation is really there
    np.testing.assert_allclose(np.abs(delta).max(axis=1), attacked.last_norms, atol=1e-5)


def test_raw_space_budget():
    policy = LinearPolicy(th.ones(1, 17))
    env = PerturbObservation(gym.make("HalfCheetah-v5"), UniformNoise(0.01), policy, space="raw")
    obs, info = env.reset(seed=0)
    assert np.abs(obs - info["obs_clean"]).max() <= 0.01 + 1e-7


def test_perturbed_observations_stay_inside_the_observation_space():
    policy = cartpole_policy()
    env = PerturbObservation(gym.make("CartPole-v1"), UniformNoise(100.0), policy, space="raw")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_seeded_resets_reproduce_the_attack():
    env = PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.1), cartpole_policy())
    first = [env.reset(seed=3)[0]] + [env.step(0)[0] for _ in range(5)]
    second = [env.reset(seed=3)[0]] + [env.step(0)[0] for _ in range(5)]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))


def test_spec_records_the_attack_stack():
    attack = UniformNoise(0.1)
    env = PerturbObservation(gym.make("CartPole-v1"), attack, cartpole_policy(), seed=1)
    stack = env.spec.additional_wrappers
    assert stack[-1].name == "PerturbObservation"
    assert repr(stack[-1].kwargs["attack"]) == repr(attack)
    rebuilt = gym.make(env.spec)
    assert isinstance(rebuilt, PerturbObservation) and repr(rebuilt.attack) == repr(attack)
    first, _ = env.reset(seed=5)
    again, _ = rebuilt.reset(seed=5)
    np.testing.assert_array_equal(first, again)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match=r"policy expects observations of shape \(17,\)"):
        PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.1), LinearPolicy(th.ones(1, 17)))
    with pytest.raises(TypeError, match="Box observation space"):
        PerturbObservation(gym.make("FrozenLake-v1"), UniformNoise(0.1), cartpole_policy())
    with pytest.raises(ValueError, match="unknown attack space 'pixels'"):
        PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.1), cartpole_policy(), "pixels")


def test_check_env_on_wrapper_directly():
    env = PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.1), cartpole_policy())
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize("wrapper", ["gym", "vec"])
def test_a_missing_policy_or_an_attack_name_is_a_clear_type_error(wrapper):
    def build(attack, policy, **kwargs):
        if wrapper == "gym":
            return PerturbObservation(gym.make("CartPole-v1"), attack, policy, **kwargs)
        venv = DummyVecEnv([lambda: gym.make("CartPole-v1")])
        return VecPerturbObservation(venv, attack, policy, **kwargs)

    with pytest.raises(TypeError, match="policy must be a TorchPolicy .* got None"):
        build(UniformNoise(0.1), None)
    with pytest.raises(TypeError, match="policy must be a TorchPolicy .* got str"):
        build(UniformNoise(0.1), "ppo-cartpole")
    with pytest.raises(TypeError, match=r"got the string 'pgd'.*make_attack\('pgd', eps=...\)"):
        build("pgd", cartpole_policy())
    with pytest.raises(
        TypeError, match=r"attack must be an ObservationAttack \(e.g. .*\), got 0.1 \(float\)"
    ):
        build(0.1, cartpole_policy())


@pytest.mark.parametrize("seed", [1.5, "0", True, th.Generator(), np.random.default_rng(0)])
def test_a_seed_that_is_not_an_int_is_a_clear_type_error(seed):
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None"):
        PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.1), cartpole_policy(), seed=seed)
    venv = VecPerturbObservation(
        DummyVecEnv([lambda: gym.make("CartPole-v1")]), UniformNoise(0.1), cartpole_policy()
    )
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None"):
        venv.seed(seed)
    env = PerturbObservation(gym.make("CartPole-v1"), UniformNoise(0.1), cartpole_policy())
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None"):
        env.reset(seed=seed)


def test_a_generator_given_as_seed_says_to_pass_the_integer():
    with pytest.raises(TypeError, match="got a Generator; the wrapper owns its generator"):
        PerturbObservation(
            gym.make("CartPole-v1"), UniformNoise(0.1), cartpole_policy(), seed=th.Generator()
        )


def test_an_eps_that_overflows_the_observation_dtype_is_refused():
    # CartPole's velocities are unbounded float32: 1e39 raw units are not representable.
    with pytest.raises(ValueError, match=r"eps=1e\+39 is too large.*dtype float32"):
        PerturbObservation(
            gym.make("CartPole-v1"), UniformNoise(1e39), cartpole_policy(), space="raw"
        )
    with pytest.raises(ValueError, match=r"eps=1e\+39 is too large.*dtype float32"):
        VecPerturbObservation(
            DummyVecEnv([lambda: gym.make("CartPole-v1")]), PGD(1e39), cartpole_policy()
        )


def test_a_perturbation_that_overflows_a_huge_observation_is_an_error_not_an_inf():
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    edge = np.finfo(np.float32).max
    env = gym.wrappers.TransformObservation(
        gym.make("CartPole-v1"), lambda o: np.full(4, edge, np.float32), space
    )
    env = PerturbObservation(env, UniformNoise(1e37), cartpole_policy(), space="raw", seed=0)
    with pytest.raises(ValueError, match=r"perturbed observation is not finite \(eps=1e\+37"):
        env.reset(seed=0)


def test_a_dict_key_attack_given_by_name_is_a_clear_type_error():
    from advrl.attacks.dict_key import PerturbObservationKey

    env = gym.make("CartPole-v1")
    env = gym.wrappers.TransformObservation(
        env, lambda o: {"x": o}, gym.spaces.Dict({"x": env.observation_space})
    )
    with pytest.raises(TypeError, match=r"make_attack\('uniform', eps=...\)"):
        PerturbObservationKey(env, "x", "uniform")
    with pytest.raises(TypeError, match="seed must be an int >= 0 or None, got 0.5"):
        PerturbObservationKey(env, "x", UniformNoise(0.1), seed=0.5)
