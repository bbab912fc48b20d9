"""RAT's adversary game, targeted PGD baseline, training and artefacts."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import advrl.zoo
from advrl.attacks.learned.adversary_env import VecObservationAdversary
from advrl.attacks.learned.rat import (
    IntentionPGD,
    TargetedAdversaryEnv,
    intention_actions,
    load_rat_adversary,
    train_rat_adversary,
    victim_means,
)
from advrl.attacks.learned.rat_weighting import Weighting

VICTIM = "ppo-halfcheetah"
TINY = dict(n_envs=2, n_steps=64, batch_size=64, n_epochs=1, weighting_batch=16,
            weighting_hidden=(8,), policy_kwargs=dict(net_arch=[8]))  # fmt: skip


@pytest.fixture(scope="module")
def victim():
    th.set_num_threads(1)
    return advrl.zoo.load(VICTIM)


@pytest.fixture(scope="module")
def intention():
    return advrl.zoo.load("ppo-halfcheetah-smooth-sigma0.1").torch_policy()


def test_step_applies_the_perturbation_and_rewards_closeness(victim, intention):
    weighting = Weighting(17, hidden=(4,))
    env = TargetedAdversaryEnv(victim, intention=intention, eps=0.15, weighting=weighting,
                               victim_deterministic=True)  # fmt: skip
    task = gym.make("HalfCheetah-v5")
    obs, _ = env.reset(seed=3)
    raw, _ = task.reset(seed=3)
    policy = victim.torch_policy()
    action = np.linspace(-2, 2, 17).astype(np.float32)  # clipped to [-1, 1] by the game
    next_obs, reward, _, _, info = env.step(action)
    clean = th.as_tensor(obs)[None]
    seen = clean + 0.15 * th.as_tensor(action).clamp(-1, 1)[None]
    assert info["attack_norm"] == pytest.approx(0.15, rel=1e-5)
    with th.no_grad():
        a_victim = victim_means(policy, seen)
        a_target = intention_actions(intention, policy, clean)
        by_hand = -float(((a_victim - a_target) ** 2).sum())
        weight = float(weighting(clean))
    assert info["closeness"] == pytest.approx(by_hand, rel=1e-5)
    assert info["weight"] == pytest.approx(weight, rel=1e-6)
    assert reward == pytest.approx(weight * by_hand, rel=1e-5)
    # The task moved with the victim's action on the *perturbed* state.
    raw_next, task_reward, *_ = task.step(a_victim[0].numpy())
    expected = policy.normalize(th.as_tensor(raw_next, dtype=th.float32)[None])[0].numpy()
    assert next_obs == pytest.approx(expected, abs=1e-4)
    assert info["reward_victim"] == pytest.approx(task_reward, rel=1e-5)
    with th.no_grad():
        unattacked = victim_means(policy, clean)
    assert not th.allclose(unattacked, a_victim, atol=1e-3)


def test_vec_env_matches_single_envs(victim, intention):
    kwargs = dict(victim=victim, intention=intention, eps=0.15)
    vec = VecObservationAdversary([lambda: TargetedAdversaryEnv(**kwargs)] * 2)
    vec.seed(5)
    singles = [TargetedAdversaryEnv(**kwargs) for _ in range(2)]
    obs = vec.reset()
    single_obs = [env.reset(seed=5 + i)[0] for i, env in enumerate(singles)]
    assert obs == pytest.approx(np.stack(single_obs))
    rng = np.random.default_rng(0)
    for _ in range(3):
        actions = rng.uniform(-1, 1, (2, 17)).astype(np.float32)
        _, rewards, _, _ = vec.step(actions)
        by_single = [env.step(a)[1] for env, a in zip(singles, actions, strict=True)]
        assert rewards == pytest.approx(by_single, rel=1e-5)


def test_clear_errors(victim, intention):
    with pytest.raises(ValueError, match="eps"):
        TargetedAdversaryEnv(victim, intention=intention, eps=-0.1)
    with pytest.raises(ValueError, match="spaces differ"):
        TargetedAdversaryEnv(victim, intention=advrl.zoo.load("ppo-hopper").torch_policy())
    with pytest.raises(ValueError, match="continuous"):
        TargetedAdversaryEnv(victim, intention=advrl.zoo.load("ppo-cartpole").torch_policy())
    with pytest.raises(ValueError, match="spaces differ"):  # a zoo name is loaded, then checked
        TargetedAdversaryEnv(victim, intention="ppo-hopper")
    with pytest.raises(TypeError, match="intention"):
        TargetedAdversaryEnv(victim, intention=3)
    with pytest.raises(TypeError, match="weighting"):
        TargetedAdversaryEnv(victim, intention=intention, weighting=1.0)
    with pytest.raises(ValueError, match="steps"):
        train_rat_adversary(VICTIM, intention, 0.15, 0)


def test_intention_pgd_moves_victim_towards_intention(victim, intention):
    policy = victim.torch_policy()
    venv = victim.make_vec_env(1, seed=0)
    obs = th.as_tensor(venv.reset(), dtype=th.float32).repeat(4, 1)
    obs = obs + 0.3 * th.randn(obs.shape, generator=th.Generator().manual_seed(0))
    attack = IntentionPGD(0.15, intention=intention)
    adv = attack(obs, policy, th.Generator().manual_seed(0))
    assert float((adv - obs).abs().max()) <= 0.15 + 1e-6
    with th.no_grad():
        target = intention_actions(intention, policy, obs)
        before = ((victim_means(policy, obs) - target) ** 2).sum(-1)
        after = ((victim_means(policy, adv) - target) ** 2).sum(-1)
    assert bool((after < before).all())


def test_training_is_seeded_saves_and_loads(tmp_path, intention):
    first = train_rat_adversary(VICTIM, intention, 0.15, 128, seed=1, **TINY)
    again = train_rat_adversary(VICTIM, intention, 0.15, 128, seed=1, **TINY)
    for a, b in zip(first.policy.parameters(), again.policy.parameters(), strict=True):
        assert th.equal(a, b)
    for a, b in zip(first.weighting.parameters(), again.weighting.parameters(), strict=True):
        assert th.equal(a, b)
    with th.random.fork_rng(devices=[]):
        th.manual_seed(1)
        fresh = Weighting(17, (8,))
    moved = [not th.equal(a, b) for a, b in zip(fresh.parameters(), first.weighting.parameters(),
                                                strict=True)]  # fmt: skip
    assert all(moved), "the bi-level step updates the weighting net"
    path = first.save(tmp_path / "rat.safetensors")
    loaded = load_rat_adversary(path, victim=VICTIM, eps=0.15)
    assert loaded.card.kind == "rat" and loaded.card.env_kwargs["weighted"] is True
    obs = th.randn(3, 17, generator=th.Generator().manual_seed(0))
    policy = advrl.zoo.load(VICTIM).torch_policy()
    assert th.equal(first.attack()(obs, policy), loaded.attack()(obs, policy))
    with pytest.raises(ValueError, match="eps"):
        load_rat_adversary(path, victim=VICTIM, eps=0.1)


def test_unweighted_training_keeps_weight_one(intention):
    trained = train_rat_adversary(VICTIM, intention, 0.15, 128, weighted=False, **TINY)
    assert trained.weighting is None and trained.card.env_kwargs["weighted"] is False
    infos = trained.model.get_env().venv.venv.buf_infos
    assert all(info["weight"] == 1.0 for info in infos)


def test_registered_game_uses_the_shipped_intention_batched_and_after_a_copy():
    """``advrl/TargetedAdversary-v0``: the default intention is the shipped one; the vector
    entry point follows single envs seeded alike; a pickled copy still perturbs and rewards
    the same."""
    import pickle

    import advrl  # noqa: F401  (registers the ids)

    env = gym.make("advrl/TargetedAdversary-v0", eps=0.15, victim_deterministic=True)
    game = env.unwrapped
    shipped = advrl.zoo.load("intention-halfcheetah-backward").torch_policy()
    probe = th.as_tensor(np.linspace(-1, 1, 17), dtype=th.float32)[None]
    with th.no_grad():
        assert th.allclose(game.intention.action(probe), shipped.action(probe))
    actions = np.random.default_rng(0).uniform(-1, 1, (3, 17)).astype(np.float32)
    actions[:, 0] = 1.0  # so the perturbation's l_inf norm is the whole budget
    env.reset(seed=0)
    env.step(actions[0])
    copy = pickle.loads(pickle.dumps(env))
    # (Gymnasium's MuJoCo envs rebuild their physics on unpickling: both are reset.)
    (obs, _), _ = env.reset(seed=4), copy.reset(seed=4)
    by_env = [env.step(a)[1:] for a in actions]
    by_copy = [copy.step(a)[1:] for a in actions]
    for (r, *_, info), (r_copy, *_, info_copy) in zip(by_env, by_copy, strict=True):
        assert r == pytest.approx(r_copy, rel=1e-6) and r == pytest.approx(info["closeness"])
        assert info_copy["attack_norm"] == pytest.approx(0.15, rel=1e-5)  # applied, in budget
    envs = gym.make_vec("advrl/TargetedAdversary-v0", 2, vectorization_mode="vector_entry_point",
                        eps=0.15, victim_deterministic=True)  # fmt: skip
    vec_obs, _ = envs.reset(seed=4)
    assert vec_obs[0] == pytest.approx(obs)
    _, rewards, *_, infos = envs.step(np.stack([actions[0], actions[0]]))
    assert rewards[0] == pytest.approx(by_env[0][0], rel=1e-5)
    assert infos["closeness"][0] == pytest.approx(by_env[0][0], rel=1e-5)
