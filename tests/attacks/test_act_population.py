"""The batched PPO population: layout, per-member independence, learning."""

import numpy as np
import pytest
import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole
from advrl.attacks.act.population import PopulationPPO, PPOConfig, StackedMLP, mlp_num_params
from advrl.envs.cheap_talk import LearnedMessage


def test_stacked_mlp_uses_learned_message_layout():
    flat = th.randn(3, mlp_num_params([4, 8, 2]), generator=th.Generator().manual_seed(0))
    net = StackedMLP.from_flat(flat, [4, 8, 2])
    obs = th.randn(3, 5, 4)
    for p in range(3):
        src = LearnedMessage(4, dims=2, hidden=(8,))
        src.set_flat(flat[p])
        np.testing.assert_allclose(net(obs)[p].numpy(), src(obs[p].numpy()), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected flat parameters of shape \(P, 58\)"):
        StackedMLP.from_flat(th.zeros(3, 10), [4, 8, 2])


def rollout_data(P, T=16, E=2, obs_dim=6, seed=0):
    g = th.Generator().manual_seed(seed)
    one = (
        th.randn(T, 1, E, obs_dim, generator=g),
        th.randint(0, 2, (T, 1, E), generator=g),
        -th.rand(T, 1, E, generator=g),
        th.randn(T, 1, E, generator=g),
        th.randn(T, 1, E, generator=g),
    )
    return [x.expand(x.shape[0], P, *x.shape[2:]).clone() for x in one]


def test_members_update_independently_and_as_if_alone():
    cfg = PPOConfig(n_envs=2, n_steps=16, n_epochs=2, batch_size=32, hidden=(8,))
    pop = PopulationPPO(3, 6, 2, cfg, seed=1, shared_init=True)
    alone = PopulationPPO(1, 6, 2, cfg, seed=1)
    assert all(th.equal(a[0], b[0]) and th.equal(a[0], a[2]) for a, b in
               zip(pop.params, alone.params, strict=True))  # fmt: skip
    data = rollout_data(3)
    data[3][:, 2] *= 50.0  # member 2 sees different advantages: it must not affect 0 and 1
    data[4][:, 2] *= 50.0
    pop._update(*data)
    alone._update(*[x[:, :1] for x in rollout_data(1)])
    for a, b in zip(pop.params, alone.params, strict=True):
        th.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)
        th.testing.assert_close(a[1], b[0], rtol=1e-5, atol=1e-6)
    assert not th.allclose(pop.params[0][2], alone.params[0][0])


def test_population_learns_cartpole():
    th.manual_seed(0)
    cfg = PPOConfig(n_envs=4, n_steps=128, hidden=(32, 32))
    ppo = PopulationPPO(4, 6, 2, cfg, seed=0)
    env = BatchedCartPole(16, seed=0)
    curves = ppo.learn(env, 8, lambda obs: obs.new_zeros(*obs.shape[:-1], 2))
    assert curves.shape == (4, 8)
    assert curves[:, -1].mean() > 2 * curves[:, 0].mean()  # ~20 at random -> clearly better
    returns = ppo.evaluate(lambda obs: obs.new_zeros(*obs.shape[:-1], 2), n_envs=2)
    assert returns.shape == (4,) and ((returns >= 1) & (returns <= 500)).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_members must be an integer >= 1, got 0"):
        PopulationPPO(0, 6, 2)
    ppo = PopulationPPO(2, 6, 2, PPOConfig(n_envs=2))
    with pytest.raises(ValueError, match="env has 3 envs, expected P \\* n_envs = 4"):
        ppo.learn(BatchedCartPole(3), 1, lambda o: o[..., :2])
