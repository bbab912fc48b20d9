"""AdversarialSAC: relabelled replay, smoke training with and without the penalty, files."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.agents.ail import AdversarialSAC, Demonstrations, gail_reward

TINY = dict(learning_starts=64, batch_size=32, policy_kwargs={"net_arch": [8]}, device="cpu")


def pendulum_demos(n: int = 40, seed: int = 0) -> Demonstrations:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 3))
    return Demonstrations(obs, rng.uniform(-2, 2, size=(n, 1)), obs + 0.1, np.zeros(n))


def model(seed: int = 0, **kwargs) -> AdversarialSAC:
    return AdversarialSAC(
        "MlpPolicy", gym.make("Pendulum-v1"), pendulum_demos(), seed=seed, **{**TINY, **kwargs}
    )


def test_replay_samples_carry_the_discriminator_reward_and_the_store_keeps_the_true_one():
    m = model()
    m.learn(100)
    buf = m.replay_buffer
    stored = buf.rewards[: buf.pos].copy()
    np.random.seed(7)
    batch = buf.sample(16)
    np.random.seed(7)
    inds = np.random.randint(0, buf.pos, size=16)
    envs = np.random.randint(0, 1, size=16)
    raw_obs = th.as_tensor(buf.observations[inds, envs], dtype=th.float32)
    raw_act = th.as_tensor(buf.actions[inds, envs], dtype=th.float32)
    m.discriminator.eval()
    with th.no_grad():
        expected = gail_reward(m.discriminator(raw_obs, raw_act))
    assert th.allclose(batch.rewards.squeeze(1), expected, atol=1e-6)
    assert th.allclose(batch.observations.float(), raw_obs)
    assert np.array_equal(buf.rewards[: buf.pos], stored)  # the true rewards are untouched
    assert (stored < 0).all()  # Pendulum's true reward, not the (>= 0) imitation reward


def test_expert_actions_live_in_sb3s_scaled_action_space():
    m = model()
    demos = m.demonstrations
    _, act = m._expert
    assert np.allclose(act.numpy(), demos.actions / 2.0, atol=1e-6)  # Pendulum: [-2, 2]


@pytest.mark.parametrize("grad_pen", [True, False])
def test_smoke_training_logs_the_discriminator_and_the_lipschitz_estimate(grad_pen):
    m = model(ail={"grad_pen": grad_pen, "hidden": (8,), "lipschitz_every": 50})
    m.learn(200)
    logged = m.logger.name_to_value
    assert m._disc_updates == 200 - 64
    assert [s for s, _ in m.lipschitz_log] and all(v >= 0 for _, v in m.lipschitz_log)
    assert "rollout/ep_rew_mean" not in logged or logged["rollout/ep_rew_mean"] < 0  # true
    assert m.discriminator.training


def test_the_penalty_keeps_the_discriminator_flatter():
    lips = {}
    for gp in (True, False):
        m = model(ail={"grad_pen": gp, "spectral_norm": False, "lipschitz_every": 1,
                       "lr": 1e-2}, learning_starts=32)  # fmt: skip
        m.learn(200)
        lips[gp] = np.mean([v for _, v in m.lipschitz_log[-50:]])
    assert lips[True] < lips[False]


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        m = model(seed=3)
        m.learn(150)
        runs.append(
            [p.detach().clone() for p in m.discriminator.parameters()]
            + [p.detach().clone() for p in m.policy.parameters()]
        )
    assert all(th.equal(a, b) for a, b in zip(*runs, strict=True))


def test_save_load_round_trip_and_training_resumes(tmp_path):
    m = model(ail={"grad_pen": False, "hidden": (16,)})
    m.learn(120)
    m.save(tmp_path / "ail.zip")
    back = AdversarialSAC.load(tmp_path / "ail.zip", env=gym.make("Pendulum-v1"), device="cpu")
    assert back.ail_config == m.ail_config and back.demonstrations is None
    x = (th.randn(5, 3), th.rand(5, 1))
    m.discriminator.eval(), back.discriminator.eval()
    assert th.equal(m.discriminator(*x), back.discriminator(*x))
    obs = np.zeros(3, dtype=np.float32)
    assert np.array_equal(
        m.predict(obs, deterministic=True)[0], back.predict(obs, deterministic=True)[0]
    )
    with pytest.raises(ValueError, match="no demonstrations"):
        back.learn(10)
    back.set_demonstrations(pendulum_demos())
    back.learn(10)


def test_bad_input_is_refused_before_training():
    env = gym.make("Pendulum-v1")
    wrong = Demonstrations(np.zeros((4, 5)), np.zeros((4, 1)), np.zeros((4, 5)), np.zeros(4))
    with pytest.raises(ValueError, match="observations have shape"):
        AdversarialSAC("MlpPolicy", env, wrong, **TINY)
    from stable_baselines3.common.buffers import ReplayBuffer

    with pytest.raises(ValueError, match="replay_buffer_class"):
        AdversarialSAC("MlpPolicy", env, pendulum_demos(), replay_buffer_class=ReplayBuffer)
    with pytest.raises(TypeError, match="Demonstrations"):
        AdversarialSAC("MlpPolicy", env, {"obs": np.zeros((4, 3))}, **TINY)
    with pytest.raises(ValueError, match="grad_pen_site"):
        AdversarialSAC("MlpPolicy", env, pendulum_demos(), ail={"grad_pen_site": "x"}, **TINY)


@pytest.mark.gpu
@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda():
    m = model(device="cuda")
    m.learn(100)
    assert all(p.is_cuda for p in m.discriminator.parameters())
    assert m.replay_buffer.sample(4).rewards.is_cuda
