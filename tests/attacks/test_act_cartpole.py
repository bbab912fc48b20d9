"""The batched CartPole matches gymnasium's CartPole-v1 step for step."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole


def test_matches_gymnasium_step_for_step_with_random_actions():
    rng = np.random.default_rng(0)
    refs = [gym.make("CartPole-v1") for _ in range(8)]
    starts = np.stack([env.reset(seed=i)[0] for i, env in enumerate(refs)])
    states = np.stack([env.unwrapped.state for env in refs])
    np.testing.assert_array_equal(starts, states.astype(np.float32))
    batched = BatchedCartPole(8)
    batched.set_state(th.as_tensor(states))
    alive = np.ones(8, dtype=bool)
    for _ in range(60):
        actions = rng.integers(0, 2, 8)
        out = batched.step(th.as_tensor(actions))
        for i, env in enumerate(refs):
            if not alive[i]:
                continue
            obs, reward, term, trunc, _ = env.step(int(actions[i]))
            np.testing.assert_array_equal(out.final_obs[i].numpy(), obs)  # exact, float64 state
            assert out.reward[i].item() == reward
            assert bool(out.terminated[i]) == term and bool(out.truncated[i]) == trunc
            alive[i] = not (term or trunc)
    assert not alive.all()  # random play ends some episodes; they were checked on that step


def test_truncates_at_500_like_the_time_limit():
    ref = gym.make("CartPole-v1")
    ref.reset(seed=0)
    batched = BatchedCartPole(1)
    batched.set_state(th.as_tensor(ref.unwrapped.state)[None])
    for _ in range(500):
        x, x_dot, theta, theta_dot = ref.unwrapped.state
        action = int(theta + 0.5 * theta_dot + 0.05 * x + 0.1 * x_dot > 0)  # balances
        obs, _, term, trunc, _ = ref.step(action)
        out = batched.step(th.tensor([action]))
        np.testing.assert_array_equal(out.final_obs[0].numpy(), obs)
        assert bool(out.terminated[0]) == term and bool(out.truncated[0]) == trunc
    assert trunc and not term
    assert batched.steps[0] == 0 and out.obs.abs().max() <= 0.05  # auto-reset happened


def test_reset_is_seeded_and_in_range():
    a, b = BatchedCartPole(5, seed=3).reset(), BatchedCartPole(5, seed=3).reset()
    assert th.equal(a, b) and a.abs().max() <= 0.05
    with pytest.raises(ValueError, match="num_envs must be an integer > 0, got 0"):
        BatchedCartPole(0)


def test_numpy_and_torch_physics_agree_on_large_batches():
    # on CPU the env steps through numpy; torch (any other device) computes the same float64
    # equations, exactly on small batches and to an ulp on large ones
    from advrl.envs.cartpole_physics import cartpole_step

    env = BatchedCartPole(4096, seed=0)
    state, action = env.reset().double(), th.randint(0, 2, (4096,))
    th.testing.assert_close(env.physics(state, action), cartpole_step(state, action),
                            rtol=1e-15, atol=1e-15)  # fmt: skip
