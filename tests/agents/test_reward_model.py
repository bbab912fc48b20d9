"""Reward nets, preferences and the Bradley-Terry / regret trainers."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from advrl.agents.reward_models import (
    PreferenceData,
    PreferenceTrainer,
    RewardNet,
    Segments,
    bradley_terry_loss,
    load_ensemble,
    load_reward_model,
    rollout_segments,
    save_ensemble,
    save_reward_model,
    segment_scores,
    synthetic_preferences,
    train_ensemble,
    train_reward_model,
)

OBS, ACT = gym.spaces.Box(-5, 5, (4,)), gym.spaces.Box(-1, 1, (2,))
W = np.array([1.0, -2.0, 0.5, 0.0])


def linear_segments(n=400, length=4, seed=0):
    """Random transitions whose true reward is linear in next_obs: r = W . next_obs."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, length, 4)).astype(np.float32)
    nxt = rng.normal(size=(n, length, 4)).astype(np.float32)
    acts = rng.uniform(-1, 1, size=(n, length, 2)).astype(np.float32)
    return Segments(obs, acts, nxt, (nxt @ W).astype(np.float32))


def test_bradley_terry_recovers_a_linear_rewards_ranking():
    th.manual_seed(0)
    data = synthetic_preferences(linear_segments(), 3000, noise=0.1, seed=0)
    net = RewardNet(OBS, ACT, hidden=(32,))
    report = train_reward_model(net, data, epochs=15, held_out=0.2, lr=3e-3, batch_size=128)
    assert report.losses[-1] < report.losses[0]
    assert report.held_out_clean_accuracy >= 0.9, report
    # noisy labels cap the accuracy near 1 - noise
    assert 0.8 <= report.held_out_accuracy <= 0.95
    fresh = linear_segments(n=200, seed=1)
    obs, acts, nxt = (th.as_tensor(x) for x in fresh.flat())
    with th.no_grad():
        learned = net(obs, acts, nxt).numpy()
    true = fresh.rewards.reshape(-1)
    assert np.corrcoef(learned, true)[0, 1] > 0.95


def test_regret_labels_and_trainer():
    seg = linear_segments(n=300, length=3, seed=2)

    def value(o):  # a stand-in V*: linear in the observation
        return o @ np.array([0.0, 0.0, 0.0, 3.0])

    scores = segment_scores(seg, "regret", value)
    by_hand = seg.rewards.sum(1) + 3.0 * seg.next_obs[:, -1, 3] - 3.0 * seg.obs[:, 0, 3]
    np.testing.assert_allclose(scores, by_hand, rtol=1e-5)
    data = synthetic_preferences(seg, 2000, model="regret", value_fn=value, seed=0)
    train, test = data.split(0.2)
    th.manual_seed(0)
    net = RewardNet(OBS, ACT, hidden=(32,), inputs=("obs", "next_obs"))
    trainer = PreferenceTrainer(net, model="regret", lr=3e-3, batch_size=128)
    report = trainer.fit(train, epochs=15, held_out=test)
    assert report.held_out_clean_accuracy >= 0.85, report
    with pytest.raises(ValueError, match="needs value_fn"):
        segment_scores(seg, "regret")


def test_label_noise_is_a_flip_probability():
    seg = linear_segments(n=100)
    clean = synthetic_preferences(seg, 4000, noise=0.0, seed=3)
    np.testing.assert_array_equal(clean.labels, clean.clean_labels)
    assert np.all(clean.pairs[:, 0] != clean.pairs[:, 1])
    truth = seg.rewards.sum(1)
    np.testing.assert_array_equal(
        clean.clean_labels, (truth[clean.pairs[:, 0]] > truth[clean.pairs[:, 1]]).astype(float)
    )
    noisy = synthetic_preferences(seg, 4000, noise=0.25, seed=3)
    assert abs(np.mean(noisy.labels != noisy.clean_labels) - 0.25) < 0.03


def test_bradley_terry_loss_matches_hand_computation():
    a, b, y = th.tensor([1.0, 0.0]), th.tensor([0.0, 2.0]), th.tensor([1.0, 0.5])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    by_hand = (-math.log(sig(1)) - 0.5 * math.log(sig(-2)) - 0.5 * math.log(sig(2))) / 2
    assert bradley_terry_loss(a, b, y).item() == pytest.approx(by_hand, rel=1e-6)


def test_bad_inputs_are_clear_errors():
    seg = linear_segments(n=5)
    with pytest.raises(ValueError, match="equal shape"):
        Segments(seg.obs, seg.actions, seg.next_obs[..., :3], seg.rewards)
    with pytest.raises(ValueError, match="segments need"):
        Segments(seg.obs, seg.actions[:, :2], seg.next_obs, seg.rewards)
    with pytest.raises(ValueError, match="pair indices"):
        PreferenceData(seg, np.array([[0, 5]]), np.array([1.0]))
    with pytest.raises(ValueError, match="pairs must have shape"):
        PreferenceData(seg, np.array([[0, 1]]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="flip probability"):
        synthetic_preferences(seg, 10, noise=0.7)
    with pytest.raises(ValueError, match="one shape"):
        bradley_terry_loss(th.zeros(3), th.zeros(2), th.zeros(3))
    with pytest.raises(ValueError, match="unknown preference model 'plackett'"):
        PreferenceTrainer(RewardNet(OBS, ACT), model="plackett")
    with pytest.raises(ValueError, match="inputs must be"):
        RewardNet(OBS, ACT, inputs=("state",))
    net = RewardNet(OBS, ACT)
    with pytest.raises(ValueError, match="obs and next_obs must have shape"):
        net(th.zeros(3, 4), th.zeros(3, 2), th.zeros(3, 5))


def test_rollout_segments_stay_inside_episodes():
    seg = rollout_segments(gym.make("CartPole-v1"), 30, 6, seed=0)
    assert seg.obs.shape == (30, 6, 4) and seg.actions.shape == (30, 6)
    # consecutive transitions chain: next_obs[t] == obs[t + 1], so no window crosses a reset
    np.testing.assert_array_equal(seg.next_obs[:, :-1], seg.obs[:, 1:])
    assert np.all(seg.rewards == 1.0)


def test_reward_net_round_trip(tmp_path):
    th.manual_seed(0)
    net = RewardNet(OBS, gym.spaces.Discrete(3), hidden=(16, 16), activation="tanh")
    x, a = th.randn(7, 4), th.randint(0, 3, (7,))
    net.normalize_on(x, a, x)
    path = tmp_path / "rm.safetensors"
    save_reward_model(net, path)
    back = load_reward_model(path)
    assert back.config == net.config
    th.testing.assert_close(back(x, a, x), net(x, a, x))
    assert net(x, a, x).mean().abs() < 1e-5  # normalised on these transitions
    with pytest.raises(ValueError, match="not a single net"):
        save_ensemble(train_ensemble(OBS, ACT, synthetic_preferences(linear_segments(20), 20),
                                     2, epochs=1, net_kwargs={"hidden": (4,)})[0], path)
        load_reward_model(path)


def test_ensemble_training_is_seeded_and_round_trips(tmp_path):
    data = synthetic_preferences(linear_segments(n=60), 200, noise=0.25)
    kwargs = dict(n_members=3, epochs=2, net_kwargs={"hidden": (8,)})
    ens, reports = train_ensemble(OBS, ACT, data, seed=4, **kwargs)
    again, _ = train_ensemble(OBS, ACT, data, seed=4, **kwargs)
    x, a = th.randn(5, 4), th.rand(5, 2)
    rewards = ens.member_rewards(x, a, x)
    th.testing.assert_close(rewards, again.member_rewards(x, a, x))
    assert not th.allclose(rewards[0], rewards[1])  # members differ by seed and data order
    assert len(reports) == 3
    path = tmp_path / "ens.safetensors"
    save_ensemble(ens.with_aggregation("uwo", 0.3, ddof=1), path)
    back = load_ensemble(path)
    assert (back.aggregation, back.lam, back.ddof) == ("uwo", 0.3, 1)
    th.testing.assert_close(back.member_rewards(x, a, x), rewards)


@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu"])
def test_numpy_fast_path_matches_torch_and_follows_training(activation):
    th.manual_seed(0)
    net = RewardNet(OBS, gym.spaces.Discrete(3), hidden=(16, 8), activation=activation)
    x, a = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32), np.arange(9) % 3
    tx, ta = th.as_tensor(x), th.as_tensor(a)
    net.normalize_on(tx, ta, tx)
    np.testing.assert_allclose(net.predict(x, a, x)[0], net(tx, ta, tx).detach().numpy(),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    opt = th.optim.SGD(net.parameters(), lr=0.1)
    net(tx, ta, tx).sum().backward()
    opt.step()  # in-place update: the cached numpy weights must refresh
    np.testing.assert_allclose(net.predict(x, a, x)[0], net(tx, ta, tx).detach().numpy(),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_progress_bars_count_epochs_and_are_silent_by_default(capsys):
    data = synthetic_preferences(linear_segments(n=40), 60)
    net = RewardNet(OBS, ACT, hidden=(4,))
    losses = []
    PreferenceTrainer(net).fit(data, epochs=2, callback=losses.append)
    train_ensemble(OBS, ACT, data, 2, epochs=2, net_kwargs={"hidden": (4,)})
    assert capsys.readouterr().err == "" and len(losses) == 2
    train_reward_model(net, data, epochs=3, progress_bar=True)
    err = capsys.readouterr().err
    assert "reward model" in err and "3/3" in err
    train_ensemble(OBS, ACT, data, 2, epochs=2, net_kwargs={"hidden": (4,)}, progress_bar=True)
    err = capsys.readouterr().err  # one bar over both members' epochs, none per member
    assert "reward ensemble" in err and "4/4" in err and "reward model" not in err
