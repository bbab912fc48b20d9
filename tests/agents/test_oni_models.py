"""ONI reward models on synthetic messages, and PPO on NetHack with the features extractor."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO

import advrl  # noqa: F401
from advrl.agents.oni.extractor import MAX_GLYPH, NetHackExtractor, crop_around
from advrl.agents.oni.models import (
    BradleyTerryRanker,
    MessageClassifier,
    encode_messages,
    preference_pairs,
)
from advrl.envs.nethack.messages import MessageReward
from advrl.envs.nethack.service import AnnotationService
from tests.conftest import requires_nle

MONSTERS = ["newt", "jackal", "grid bug", "lichen", "sewer rat", "kobold", "gnome", "fox",
            "goblin", "acid blob", "yellow mold", "hill orc", "dingo", "coyote", "gecko"]
HELPFUL = ["You kill the {}!", "You find a {} corpse.", "You see here a {} figurine."]
UNHELPFUL = ["You miss the {}.", "The {} bites!", "You stop. The {} is in your way."]


def synthetic(monsters):
    messages = [t.format(m) for m in monsters for t in HELPFUL + UNHELPFUL]
    labels = [1.0 if i % 6 < 3 else 0.0 for i in range(len(messages))]
    return messages, labels


TRAIN, HELD_OUT = synthetic(MONSTERS[:10]), synthetic(MONSTERS[10:])


def test_encode_messages_bytes_and_padding():
    assert encode_messages(["abc", ""], max_len=2).tolist() == [[97, 98], [0, 0]]
    assert encode_messages(["a", "bc"]).tolist() == [[97, 0], [98, 99]]
    assert encode_messages([""]).shape == (1, 1)
    with pytest.raises(TypeError, match="sequence of strings"):
        encode_messages("ab")


def test_padding_does_not_change_the_features():
    clf = MessageClassifier()
    short = clf.encoder(encode_messages(["You kill it!"]))
    padded = clf.encoder(th.nn.functional.pad(encode_messages(["You kill it!"]), (0, 50)))
    assert th.allclose(short, padded)


def test_classifier_generalises_to_unseen_monsters():
    clf = MessageClassifier(threshold=0.5)
    loss = clf.fit(*TRAIN, epochs=60)
    assert loss < 0.1
    messages, labels = HELD_OUT
    rewards = [clf(m) for m in messages]
    assert set(rewards) <= {0.0, 1.0}
    assert np.mean(np.array(rewards) == np.array(labels)) >= 0.9
    p = clf.proba(messages)
    assert ((p > 0.5) == (np.array(rewards) == 1.0)).all()  # reward = 1[p > threshold]
    strict = MessageClassifier(threshold=1.0)
    strict.load_state_dict(clf.state_dict())
    assert sum(strict(m) for m in messages) == 0.0  # p is never > 1
    with pytest.raises(ValueError, match="need as many labels as messages"):
        clf.fit(["a"], [1.0, 0.0])
    with pytest.raises(ValueError, match="labels must be in"):
        clf.fit(["a"], [2.0])
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got 1.5"):
        MessageClassifier(threshold=1.5)


def test_bradley_terry_ranker_orders_and_thresholds_unseen_messages():
    pairs = preference_pairs(*TRAIN, np.random.default_rng(0), n_pairs=200)
    assert all(TRAIN[1][TRAIN[0].index(w)] > TRAIN[1][TRAIN[0].index(lo)] for w, lo in pairs)
    ranker = BradleyTerryRanker(threshold=0.5, normalization="minmax")
    loss = ranker.fit(pairs, epochs=80)
    assert loss < 0.2 < np.log(2)  # log 2 = the likelihood of equal scores
    train_scores = ranker.normalized(sorted({m for p in pairs for m in p}))
    assert train_scores.min() == pytest.approx(0.0, abs=1e-6)
    assert train_scores.max() == pytest.approx(1.0, abs=1e-6)
    messages, labels = HELD_OUT
    z = ranker.normalized(messages)
    assert ((z >= 0) & (z <= 1)).all()
    labels = np.array(labels)
    assert z[labels == 1].min() > z[labels == 0].max()  # every helpful one ranks higher
    assert np.mean([ranker(m) for m in messages] == labels) >= 0.9
    with pytest.raises(ValueError, match="at least two different labels"):
        preference_pairs(["a", "b"], [1.0, 1.0], np.random.default_rng(0), 3)
    with pytest.raises(ValueError, match="pairs must be"):
        ranker.fit([("a", "b", "c")])


def test_ranking_reward_is_the_references_thresholded_z_score():
    # facebookresearch/oni learner.py: z = (r - mean) / std; r_int = (z > thr) * z, thr -0.5.
    pairs = preference_pairs(*TRAIN, np.random.default_rng(0), n_pairs=200)
    ranker = BradleyTerryRanker()
    assert ranker.normalization == "zscore" and ranker.threshold == -0.5
    ranker.fit(pairs, epochs=80)
    train = sorted({m for p in pairs for m in p})
    z_train = ranker.normalized(train)
    assert z_train.mean() == pytest.approx(0.0, abs=1e-5)
    assert z_train.std() == pytest.approx(1.0, abs=1e-5)
    messages, labels = HELD_OUT
    with th.no_grad():
        raw = ranker.logits(messages).numpy()
    z = (raw - float(ranker.mean)) / float(ranker.std)
    expected = np.where(z > -0.5, z, 0.0)
    np.testing.assert_allclose([ranker(m) for m in messages], expected, rtol=1e-5, atol=1e-6)
    # Not binary: helpful messages earn their z-score, and some kept values are negative.
    rewards = np.array([ranker(m) for m in train])
    assert rewards.max() > 1.0
    assert ((rewards < 0) == ((z_train > -0.5) & (z_train < 0))).all()
    with pytest.raises(ValueError, match="unknown normalization 'rank'"):
        BradleyTerryRanker(normalization="rank")
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        BradleyTerryRanker(threshold=float("inf"))
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got -0.5"):
        BradleyTerryRanker(threshold=-0.5, normalization="minmax")
    with pytest.raises(TypeError, match="threshold must be a number, got '0.5'"):
        BradleyTerryRanker(threshold="0.5")


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_models_run_on_cuda():
    clf = MessageClassifier(device="cuda")
    clf.fit(*TRAIN, epochs=5)
    assert clf.proba(HELD_OUT[0]).shape == (len(HELD_OUT[0]),)


def test_crop_around_centres_on_the_agent_and_pads_off_map():
    glyphs = th.arange(20).reshape(1, 4, 5)
    window = crop_around(glyphs, th.tensor([0]), th.tensor([1]), size=3, pad=-1)
    assert window[0].tolist() == [[-1, 0, 1], [-1, 5, 6], [-1, 10, 11]]
    window = crop_around(glyphs.repeat(2, 1, 1), th.tensor([4, 2]), th.tensor([3, 2]), 3, -1)
    assert window[0].tolist() == [[13, 14, -1], [18, 19, -1], [-1, -1, -1]]
    assert window[1].tolist() == [[6, 7, 8], [11, 12, 13], [16, 17, 18]]


def test_extractor_rejects_spaces_without_nethack_keys():
    with pytest.raises(ValueError, match="needs a Dict space with keys"):
        NetHackExtractor(gym.spaces.Box(0, 1, (3,)))
    space = gym.spaces.Dict({
        "glyphs": gym.spaces.Box(0, MAX_GLYPH, (21, 79), np.int16),
        "blstats": gym.spaces.Box(-(2**31), 2**31 - 1, (27,), np.int64),
        "message": gym.spaces.Box(0, 255, (256,), np.uint8),
    })  # fmt: skip
    with pytest.raises(ValueError, match="crop must be a positive odd number, got 4"):
        NetHackExtractor(space, crop=4)


@requires_nle
def test_ppo_trains_on_a_nethack_task_with_oni_reward_and_round_trips(tmp_path):
    th.set_num_threads(1)
    with AnnotationService() as service:
        env = MessageReward(gym.make("advrl/NetHackStaircase3-v0"), service, c_int=1.0)
        model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0,
                    policy_kwargs={"features_extractor_class": NetHackExtractor,
                                   "features_extractor_kwargs": {"features_dim": 32},
                                   "net_arch": [16]})  # fmt: skip
        before = [p.detach().clone() for p in model.policy.parameters()]
        model.learn(128)
        after = list(model.policy.parameters())
        assert any(not th.equal(a, b) for a, b in zip(before, after, strict=True))
        assert len(service.store) + service.pending > 0  # messages reached the annotator
        model.save(tmp_path / "ppo")
        loaded = PPO.load(tmp_path / "ppo", device="cpu")
        obs, _ = env.reset(seed=0)
        action = model.predict(obs, deterministic=True)[0]
        assert action == loaded.predict(obs, deterministic=True)[0]
        env.close()
