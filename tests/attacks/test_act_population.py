"""The batched PPO population: layout, per-member independence, the fused path against the
autograd reference, learning."""

import dataclasses

import numpy as np
import pytest
import torch as th

from advrl.attacks.act.cartpole import BatchedCartPole
from advrl.attacks.act.population import (
    PopulationPPO,
    PPOConfig,
    StackedMLP,
    finished_episodes,
    mlp_num_params,
)
from advrl.attacks.act.stacked import Batch
from advrl.envs.cheap_talk import LearnedMessage

IMPLS = ["fused", "autograd"]


def test_stacked_mlp_uses_learned_message_layout():
    flat = th.randn(3, mlp_num_params([4, 8, 2]), generator=th.Generator().manual_seed(0))
    net = StackedMLP.from_flat(flat, [4, 8, 2])
    obs = th.randn(3, 5, 4)
    for p in range(3):
        src = LearnedMessage(4, dims=2, hidden=(8,))
        src.set_flat(flat[p])
        np.testing.assert_allclose(net(obs)[p].numpy(), src(obs[p].numpy()), rtol=1e-5, atol=1e-6)
    assert th.equal(net.flat(), flat)
    with pytest.raises(ValueError, match=r"expected flat parameters of shape \(P, 58\)"):
        StackedMLP.from_flat(th.zeros(3, 10), [4, 8, 2])


def test_finished_episodes_equal_the_step_by_step_sums():
    g = th.Generator().manual_seed(0)
    rewards = th.randint(0, 3, (3, 40, 2), generator=g).float()
    done = (th.rand(3, 40, 2, generator=g) < 0.15).float()
    carry = th.tensor([[5.0, 0.0], [2.0, 7.0], [0.0, 1.0]])
    total, count, running = th.zeros(3), th.zeros(3), carry.clone()
    for t in range(40):  # the loop the vectorised version replaces
        running += rewards[:, t]
        total += (running * done[:, t]).sum(1)
        count += done[:, t].sum(1)
        running *= 1 - done[:, t]
    got = finished_episodes(rewards, done, carry)
    assert th.equal(got[0], total) and th.equal(got[1], count) and th.equal(got[2], running)
    assert (count > 0).all() and (running > 0).any()


def rollout_data(P, n=64, obs_dim=6, seed=0, same=False):
    """Per-member PPO data ``(P, n, ...)``; ``same``: every member gets member 0's."""
    g = th.Generator().manual_seed(seed)
    k = 1 if same else P
    data = Batch(
        th.randn(k, n, obs_dim, generator=g),
        th.randint(0, 2, (k, n), generator=g),
        -th.rand(k, n, generator=g) - 0.3,  # old log-probs: ratios well inside and outside clip
        th.randn(k, n, generator=g),
        th.randn(k, n, generator=g),
    )
    return Batch(*(x.expand(P, *x.shape[1:]).clone() for x in data))


CFG = PPOConfig(n_envs=2, n_steps=16, n_epochs=2, batch_size=16, hidden=(8, 8), ent_coef=0.01)


def updated(P, data, **kw):
    """A fresh population (shared init) after one PPO update on ``data``."""
    ppo = PopulationPPO(P, 6, 2, dataclasses.replace(CFG, **kw), seed=1, shared_init=True)
    ppo._update(data)
    return ppo.theta.detach()


@pytest.mark.parametrize("impl", IMPLS)
def test_a_member_updates_as_if_alone(impl):
    # one minibatch per epoch, so every member sees its data in the same order as alone
    data = rollout_data(3, n=16, same=True)
    data.advantages[2] *= -1.0  # member 2's own data differs
    data.returns[2] *= 50.0
    pop = updated(3, data, impl=impl, chunk=2)  # members 0, 1 in one block, 2 in another
    alone = updated(1, Batch(*(x[:1] for x in data)), impl=impl)
    th.testing.assert_close(pop[0], alone[0], rtol=1e-6, atol=1e-7)
    th.testing.assert_close(pop[1], alone[0], rtol=1e-6, atol=1e-7)
    assert not th.allclose(pop[2], alone[0])


@pytest.mark.parametrize("impl", IMPLS)
def test_no_cross_talk_between_members(impl):
    data = rollout_data(4)
    before = updated(4, data, impl=impl, chunk=4)  # one block: members share every bmm
    data.obs[2] += 1.0  # perturb all of member 2's data
    data.advantages[2] *= -3.0
    data.returns[2] += 5.0
    after = updated(4, data, impl=impl, chunk=4)
    for p in (0, 1, 3):
        assert th.equal(before[p], after[p])
    assert (before[2] - after[2]).abs().max() > 1e-3


def test_fused_update_equals_the_autograd_reference():
    # several minibatches, epochs and blocks, entropy bonus on, clipped and unclipped ratios
    data = rollout_data(5)
    reference = updated(5, data, impl="autograd")
    for chunk in (1, 2, 5):
        fused = updated(5, data, impl="fused", chunk=chunk)
        th.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-6)
    initial = PopulationPPO(5, 6, 2, CFG, seed=1, shared_init=True).theta
    assert (reference - initial).abs().max() > 1e-3  # the update did move the parameters


def message(obs):
    return 0.5 * obs[..., :2].sin()


def test_reference_path_reproduces_the_original_numbers():
    # Learning curves of the code before the fused path (commit ec01377) on this config: the
    # autograd path reproduces them (bitwise on the machine they came from) and the fused path
    # samples the same actions, so its curves agree too.
    original = th.tensor([[20.8, 23.8, 16.25], [24.25, 21.2, 33.5], [22.8, 123 / 7, 26.2]])
    cfg = PPOConfig(n_envs=2, n_steps=64, n_epochs=2, batch_size=32, hidden=(16,), ent_coef=0.01)
    runs = {}
    for impl in IMPLS:
        ppo = PopulationPPO(3, 6, 2, dataclasses.replace(cfg, impl=impl), seed=4)
        runs[impl] = ppo.learn(BatchedCartPole(6, seed=1), 3, message), ppo.theta.detach()
        th.testing.assert_close(runs[impl][0], original)
    th.testing.assert_close(runs["fused"][1], runs["autograd"][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS)
def test_population_learns_cartpole(impl):
    th.manual_seed(0)
    cfg = PPOConfig(n_envs=4, n_steps=128, hidden=(32, 32), impl=impl)
    ppo = PopulationPPO(4, 6, 2, cfg, seed=0)
    env = BatchedCartPole(16, seed=0)
    curves = ppo.learn(env, 8, lambda obs: obs.new_zeros(*obs.shape[:-1], 2))
    assert curves.shape == (4, 8)
    assert curves[:, -1].mean() > 2 * curves[:, 0].mean()  # ~20 at random -> clearly better
    returns = ppo.evaluate(lambda obs: obs.new_zeros(*obs.shape[:-1], 2), n_envs=2)
    assert returns.shape == (4,) and ((returns >= 1) & (returns <= 500)).all()


def test_truncated_episodes_bootstrap_alike_in_both_paths():
    # a 20-step horizon: many truncations inside each rollout, bootstrapped from the critic
    runs = {}
    for impl in IMPLS:
        ppo = PopulationPPO(2, 6, 2, dataclasses.replace(CFG, impl=impl, n_steps=48), seed=2)
        env = BatchedCartPole(4, max_episode_steps=20, seed=0)
        runs[impl] = ppo.learn(env, 2, message), ppo.theta.detach()
    th.testing.assert_close(runs["fused"][0], runs["autograd"][0])
    th.testing.assert_close(runs["fused"][1], runs["autograd"][1], rtol=1e-5, atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_members must be an integer >= 1, got 0"):
        PopulationPPO(0, 6, 2)
    ppo = PopulationPPO(2, 6, 2, PPOConfig(n_envs=2))
    with pytest.raises(ValueError, match="env has 3 envs, expected P \\* n_envs = 4"):
        ppo.learn(BatchedCartPole(3), 1, lambda o: o[..., :2])
    with pytest.raises(ValueError, match="impl must be one of \\('fused', 'autograd'\\), got 'x'"):
        PPOConfig(impl="x")
    with pytest.raises(ValueError, match="chunk must be None or an integer >= 1, got 0"):
        PPOConfig(chunk=0)
