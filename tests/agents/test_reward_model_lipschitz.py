"""Lipschitz-regularised reward models: spectral norm on RewardNet, gradient penalties in
preference training, and the per-epoch Lipschitz estimate."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from torch import nn

from advrl.agents.lipschitz import gradient_penalty, is_spectral_normalized
from advrl.agents.reward_models import (
    PreferenceTrainer,
    RewardNet,
    Segments,
    load_reward_model,
    save_reward_model,
    synthetic_preferences,
    train_reward_model,
)
from advrl.agents.reward_models.nets import save_tensors
from advrl.agents.reward_models.training import GradientPenalty, bradley_terry_loss

OBS, ACT = gym.spaces.Box(-5, 5, (4,)), gym.spaces.Box(-1, 1, (2,))
W = np.array([1.0, -2.0, 0.5, 0.0])


def linear_data(n=80, length=4, pairs=200, seed=0):
    """Noise-free preferences of a linear reward on next_obs (BT then grows the net's scale
    without bound, so an unregularised net's input gradient keeps growing)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, length, 4)).astype(np.float32)
    nxt = rng.normal(size=(n, length, 4)).astype(np.float32)
    acts = rng.uniform(-1, 1, size=(n, length, 2)).astype(np.float32)
    return synthetic_preferences(Segments(obs, acts, nxt, (nxt @ W).astype(np.float32)), pairs)


def top_singular_values(net: RewardNet) -> list[float]:
    with net.serving():
        return [th.linalg.matrix_norm(m.weight.detach(), 2).item()
                for m in net.net if isinstance(m, nn.Linear)]  # fmt: skip


def test_spectral_norm_bounds_every_layer_and_round_trips(tmp_path):
    th.manual_seed(0)
    net = RewardNet(OBS, ACT, hidden=(16, 8), spectral_norm=True)
    assert is_spectral_normalized(net.net) and net.config["spectral_norm"] is True
    x, a = th.randn(32, 4), th.rand(32, 2)
    opt = th.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(20):  # weights move; each training-mode forward is one power iteration
        opt.zero_grad()
        (-net(x, a, x).std()).backward()
        opt.step()
    for _ in range(10):
        net(x, a, x)
    np.testing.assert_allclose(top_singular_values(net), 1.0, atol=1e-3)
    net.normalize_on(x, a, x)
    path = tmp_path / "sn.safetensors"
    save_reward_model(net, path)
    back = load_reward_model(path)
    assert back.config == net.config and is_spectral_normalized(back.net)
    with net.serving(), back.serving():
        th.testing.assert_close(back(x, a, x), net(x, a, x))


def test_files_without_the_spectral_norm_key_load_as_plain_nets(tmp_path):
    net = RewardNet(OBS, ACT, hidden=(4,))
    old = {k: v for k, v in net.config.items() if k != "spectral_norm"}
    save_tensors(tmp_path / "old.safetensors", net.state_dict(), {"kind": "net", "config": old})
    back = load_reward_model(tmp_path / "old.safetensors")
    assert back.config["spectral_norm"] is False and not is_spectral_normalized(back.net)


@pytest.mark.parametrize("action_space", [ACT, gym.spaces.Discrete(3)])
def test_numpy_fast_path_uses_the_normalised_weights(action_space):
    th.manual_seed(0)
    net = RewardNet(OBS, action_space, hidden=(16, 8), spectral_norm=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 4)).astype(np.float32)
    a = (np.arange(9) % 3 if isinstance(action_space, gym.spaces.Discrete)
         else rng.uniform(-1, 1, (9, 2)).astype(np.float32))  # fmt: skip
    tx, ta = th.as_tensor(x), th.as_tensor(a)
    opt = th.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(2):  # the effective weight W / sigma changes with W and with u, v
        net.normalize_on(tx, ta, tx)
        with net.serving():
            torch_path = net(tx, ta, tx).detach().numpy()
        np.testing.assert_allclose(net.predict(x, a, x)[0], torch_path, rtol=1e-4, atol=1e-4)
        net(tx, ta, tx).sum().backward()
        opt.step()
        net(tx, ta, tx)  # a training-mode forward: one more power iteration


def test_batch_loss_is_the_preference_loss_plus_the_weighted_penalty():
    th.manual_seed(0)
    net = RewardNet(OBS, ACT, hidden=(8,))
    data = linear_data(n=10, pairs=12)
    trainer = PreferenceTrainer(net, penalty=GradientPenalty(3.0, target=0.1, site="data"))
    seg = trainer._tensors(data)
    pairs, labels = th.as_tensor(data.pairs), th.as_tensor(data.labels, dtype=th.float32)
    loss, pref, penalty = trainer.batch_loss(seg, pairs, labels)

    def segment_features(j):
        obs, acts, nxt = (seg[k][pairs[:, j]].reshape(-1, *seg[k].shape[2:])
                          for k in ("obs", "actions", "next_obs"))  # fmt: skip
        return th.cat([obs, acts, nxt], dim=1)

    xa, xb = segment_features(0), segment_features(1)
    bt = bradley_terry_loss(net.head(xa).reshape(12, 4).sum(1),
                            net.head(xb).reshape(12, 4).sum(1), labels)  # fmt: skip
    by_hand = gradient_penalty(net.head, None, th.cat([xa, xb]), target=0.1, site="data")
    assert by_hand.item() > 0  # the constraint is active, so the test can fail
    th.testing.assert_close(pref, bt)
    th.testing.assert_close(penalty, by_hand)
    th.testing.assert_close(loss, bt + 3.0 * by_hand)


@pytest.mark.parametrize("site", ["data", "policy_noise", "interpolates"])
def test_penalty_lowers_the_logged_lipschitz_estimate(site):
    data = linear_data()
    reports = {}
    for name, penalty in (("none", None), ("gp", GradientPenalty(10.0, 0.5, site=site))):
        th.manual_seed(0)
        net = RewardNet(OBS, ACT, hidden=(16,))
        reports[name] = train_reward_model(net, data, epochs=8, seed=0, penalty=penalty,
                                           lr=1e-2)  # fmt: skip
    none, gp = reports["none"], reports["gp"]
    assert len(gp.lipschitz) == len(gp.penalties) == len(gp.losses) == 8
    assert none.penalties == [0.0] * 8 and max(gp.penalties) > 0
    assert none.lipschitz[-1] > 1.2 > none.lipschitz[0]  # BT keeps scaling an unregularised net up
    assert gp.lipschitz[-1] < 0.75 * none.lipschitz[-1]
    assert gp.held_out_accuracy > 0.8  # still learns the ranking
    assert np.isfinite(gp.lipschitz_normalized) and gp.seconds > 0


def test_discrete_actions_penalise_observations_only():
    th.manual_seed(0)
    net = RewardNet(OBS, gym.spaces.Discrete(3), hidden=(8,))
    trainer = PreferenceTrainer(net, penalty=GradientPenalty(1.0, target=0.0, one_sided=False))
    assert trainer.columns.tolist() == [0, 1, 2, 3, 7, 8, 9, 10]  # obs, next_obs; no one-hot
    x = net.features(th.randn(5, 4), th.tensor([0, 1, 2, 0, 1]), th.randn(5, 4))
    fn = lambda o: net.head(th.cat([o[:, :4], x[:, 4:7], o[:, 4:]], dim=1))  # noqa: E731
    by_hand = gradient_penalty(fn, None, x[:, trainer.columns], target=0.0, one_sided=False,
                               site="data")  # fmt: skip
    th.testing.assert_close(trainer.penalty_value(x[:2], x[2:]), by_hand)


class Detached(RewardNet):
    def head(self, features):
        return super().head(features).detach()


def test_bad_penalties_are_clear_errors_before_training():
    with pytest.raises(ValueError, match="weight must be a finite number >= 0, got -1"):
        GradientPenalty(-1.0)
    with pytest.raises(ValueError, match="target must be a finite number >= 0, got nan"):
        GradientPenalty(1.0, target=float("nan"))
    with pytest.raises(ValueError, match="unknown gradient-penalty site 'wgan'.*'interpolates'"):
        GradientPenalty(1.0, site="wgan")
    with pytest.raises(ValueError, match="'expert_noise' .*expert / policy split"):
        GradientPenalty(1.0, site="expert_noise")
    with pytest.raises(TypeError, match="penalty must be a GradientPenalty"):
        PreferenceTrainer(RewardNet(OBS, ACT), penalty=10.0)
    only_action = RewardNet(OBS, gym.spaces.Discrete(3), inputs=("action",))
    with pytest.raises(ValueError, match="reads only a Discrete action"):
        PreferenceTrainer(only_action, penalty=GradientPenalty(1.0))
    assert np.isnan(PreferenceTrainer(only_action).lipschitz(th.zeros(2, 3)))  # no penalty: ok
    with pytest.raises(ValueError, match="no gradient path"):
        PreferenceTrainer(Detached(OBS, ACT), penalty=GradientPenalty(1.0))
