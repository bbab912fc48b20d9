"""Robust Sarsa: the TD target, the regulariser, the RS and RS+MAD attacks, the critic file."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

import advrl.zoo
import advrl.zoo.checkpoint
from advrl.attacks import losses
from advrl.attacks.balls import sample_norm
from advrl.attacks.learned import load_learned_attack, victim_digest
from advrl.attacks.learned import robust_sarsa as rs
from advrl.attacks.learned.qnet_format import QNetwork, load_qnet
from advrl.attacks.learned.robust_sarsa import (
    RobustSarsaAttack,
    RobustSarsaMAD,
    SarsaConfig,
    load_attack,
    lr_factor,
    reg_eps_at,
    train_robust_sarsa,
)
from advrl.attacks.learned.sarsa_losses import (
    Transitions,
    interval_bounds,
    robust_regulariser,
    sarsa_losses,
    td_targets,
)
from advrl.testing import LinearPolicy
from advrl.zoo import CheckpointError

EPS = 0.075  # ppo-hopper's standard budget


@pytest.fixture(scope="module")
def hopper_critic(tmp_path_factory):
    critic = train_robust_sarsa("ppo-hopper", EPS, 256, n_envs=2, rollout_steps=128, seed=0)
    path = critic.save(tmp_path_factory.mktemp("rs") / "rs-ppo-hopper.safetensors", command="t")
    return critic, path


@pytest.fixture(scope="module")
def hopper_policy():
    return advrl.zoo.load("ppo-hopper").torch_policy()


def linear_critic(obs_weight, action_weight, bias=0.0) -> QNetwork:
    """``Q(s, a) = obs_weight . s + action_weight . a + bias`` (no hidden layer)."""
    obs_weight, action_weight = th.tensor(obs_weight), th.tensor(action_weight)
    q_net = QNetwork(len(obs_weight), len(action_weight), hidden=())
    with th.no_grad():
        q_net.q[0].weight.copy_(th.cat((obs_weight, action_weight))[None])
        q_net.q[0].bias.fill_(bias)
    return q_net


# --- the maths against hand computations ----------------------------------------------------


def test_td_targets_by_hand():
    target = td_targets(th.tensor([1.0, 2.0]), th.tensor([10.0, 20.0]),
                        th.tensor([False, True]), gamma=0.9)  # fmt: skip
    assert target.tolist() == pytest.approx([1.0 + 0.9 * 10.0, 2.0])


def test_sarsa_td_loss_is_the_huber_loss_to_the_next_transitions_value():
    q_net = linear_critic([1.0, 0.0], [2.0])  # Q = s0 + 2 a
    batch = Transitions(
        obs=th.tensor([[1.0, 5.0], [0.0, 0.0]]), action=th.tensor([[0.5], [1.0]]),
        reward=th.tensor([0.5, 3.0]), next_obs=th.tensor([[2.0, 0.0], [9.0, 9.0]]),
        next_action=th.tensor([[0.0], [9.0]]), terminated=th.tensor([False, True]),
        done=th.tensor([False, True]),
    )  # fmt: skip
    td_loss, reg, q = sarsa_losses(q_net, batch, gamma=0.5, reg_eps=0.0, norm="linf")
    # q = (2, 2); targets: 0.5 + 0.5 * Q(s'=(2, 0), a'=0) = 1.5 and 3 (terminal).
    # Huber: |2 - 1.5| = 0.5 -> 0.125; |2 - 3| = 1 -> 0.5.
    assert q.tolist() == [2.0, 2.0]
    assert td_loss.item() == pytest.approx((0.125 + 0.5) / 2)
    assert reg.item() == 0.0


def test_minibatch_order_td_pairs_use_the_next_row_as_the_reference_code():
    q_net = linear_critic([1.0], [0.0])  # Q = s
    batch = Transitions(
        obs=th.tensor([[1.0], [2.0], [4.0]]), action=th.zeros(3, 1),
        reward=th.tensor([1.0, 1.0, 0.0]),
        next_obs=th.full((3, 1), 100.0), next_action=th.zeros(3, 1),
        terminated=th.zeros(3, dtype=th.bool), done=th.tensor([False, True, False]),
    )  # fmt: skip
    td_loss, _, _ = sarsa_losses(q_net, batch, gamma=0.5, reg_eps=0.0, norm="linf",
                                 td_pairs="minibatch_order")  # fmt: skip
    # rows 0, 1 against 1 + 0.5 * Q(row 1) = 2 and 1 (done): errors 1 and 1 -> Huber 0.5 each.
    assert td_loss.item() == pytest.approx(0.5)


@pytest.mark.parametrize(("norm", "dual"), [("linf", 1), ("l2", 2)])
def test_interval_bounds_and_regulariser_of_a_linear_critic(norm, dual):
    q_net = linear_critic([1.0, -2.0], [0.5], bias=0.25)
    inputs = th.tensor([[1.0, 1.0, 1.0], [0.0, 2.0, -1.0]])
    q = q_net.q(inputs).squeeze(-1)
    radius = 0.1 * th.tensor([1.0, -2.0, 0.5]).norm(p=dual)
    lower, upper = interval_bounds(q_net, inputs, 0.1, norm)
    th.testing.assert_close(lower, q - radius)
    th.testing.assert_close(upper, q + radius)
    reg = robust_regulariser(q_net, inputs, q, 0.1, norm)
    assert reg.item() == pytest.approx(radius.item() ** 2)


def test_interval_bounds_through_a_tanh_unit_by_hand():
    q_net = QNetwork(1, 1, hidden=(1,))  # Q = v tanh(w . x + b) + c, v < 0
    with th.no_grad():
        q_net.q[0].weight.copy_(th.tensor([[2.0, -1.0]]))
        q_net.q[0].bias.fill_(0.5)
        q_net.q[2].weight.fill_(-3.0)
        q_net.q[2].bias.fill_(1.0)
    x = th.tensor([[0.2, 0.4]])
    pre = 2.0 * 0.2 - 0.4 + 0.5  # 0.5, radius 0.1 * (2 + 1) = 0.3
    lower, upper = interval_bounds(q_net, x, 0.1, "linf")
    assert lower.item() == pytest.approx(-3.0 * np.tanh(pre + 0.3) + 1.0)
    assert upper.item() == pytest.approx(-3.0 * np.tanh(pre - 0.3) + 1.0)
    points = x + 0.1 * (2 * th.rand(1000, 2, generator=th.Generator().manual_seed(0)) - 1)
    values = q_net.q(points).squeeze(-1)
    assert (values >= lower - 1e-6).all() and (values <= upper + 1e-6).all()


def test_the_reference_schedules():
    # 30 iterations: eps 0 for iterations 1..9, ramped over 10..19, full from 20 on.
    config = SarsaConfig(sarsa_eps=0.3)
    assert reg_eps_at(config, 8, 30, 320, 320) == 0.0
    assert reg_eps_at(config, 9, 30, 160, 320) == pytest.approx(0.015)
    assert reg_eps_at(config, 19, 30, 1, 320) == pytest.approx(0.3)
    assert [lr_factor(i, 30) for i in (0, 19, 20, 25, 29)] == pytest.approx([1, 1, 1, 0.5, 0.1])


# --- the attacks ----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    eps=st.floats(1e-3, 2.0),
    batch=st.integers(1, 6),
    norm=st.sampled_from(["linf", "l2"]),
    name=st.sampled_from(["rs", "rs_mad"]),
    steps=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_every_output_stays_inside_the_ball(eps, batch, norm, name, steps, seed):
    gen = th.Generator().manual_seed(seed)
    q_net = QNetwork(3, 2, hidden=(8,))
    policy = LinearPolicy(th.randn(2, 3, generator=gen), std=th.tensor([0.5, 2.0]))
    cls = RobustSarsaMAD if name == "rs_mad" else RobustSarsaAttack
    obs = 3 * th.randn(batch, 3, generator=gen)
    adv = cls(eps, norm, q_net=q_net, steps=steps)(obs, policy, gen)
    assert adv.shape == obs.shape and adv.dtype == obs.dtype
    # float32 obs + delta rounds by a few ulps of obs (per coordinate; l2 adds them up)
    rounding = 4 * th.finfo(th.float32).eps * obs.abs().amax(1) * (3 if norm == "l2" else 1)
    assert (sample_norm(adv - obs, norm) <= eps * (1 + 1e-5) + rounding).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_rs_lowers_the_critic_value_of_the_victims_action(norm):
    q_net = linear_critic([0.0, 0.0, 0.0], [1.0, -2.0])  # Q = a0 - 2 a1
    weight = th.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, 1.0]])
    policy = LinearPolicy(weight)
    obs = th.randn(4, 3, generator=th.Generator().manual_seed(1))
    adv = RobustSarsaAttack(0.1, norm, q_net=q_net)(obs, policy, th.Generator().manual_seed(2))
    clean_q, adv_q = q_net(obs, policy.action(obs)), q_net(obs, policy.action(adv))
    # Q(s, pi(x)) = g . x with g = W^T c: the ball's minimum is -eps |g|_dual; 10 steps of
    # eps/10 from a start within one step reach at least 90% of it.
    g = weight.T @ th.tensor([1.0, -2.0])
    best = 0.1 * g.norm(p=1 if norm == "linf" else 2)
    assert (clean_q - adv_q >= 0.9 * best - 1e-5).all()


def test_rs_scores_the_clean_state_not_the_perturbed_one():
    policy = LinearPolicy(th.tensor([[1.0, -1.0]]))
    obs = th.zeros(3, 2)
    plain = RobustSarsaAttack(0.1, q_net=linear_critic([0.0, 0.0], [1.0]))
    # A state term that the perturbed state would let the attack exploit, against the action.
    with_state = RobustSarsaAttack(0.1, q_net=linear_critic([-5.0, 5.0], [1.0]))
    out = [a(obs, policy, th.Generator().manual_seed(0)) for a in (plain, with_state)]
    th.testing.assert_close(out[0], out[1])


def test_rs_mad_objective_is_the_references_combination():
    q_net = linear_critic([0.5, 0.0], [1.0, 1.0])
    policy = LinearPolicy(th.tensor([[1.0, 0.0], [0.0, 2.0]]), std=th.tensor([1.0, 3.0]))
    obs, x = th.tensor([[0.2, -0.1]]), th.tensor([[0.3, 0.1]])
    ref = losses.Reference.of(policy, obs)
    loss = RobustSarsaMAD(0.2, q_net=q_net).objective(policy, obs)
    a0, a = policy.action(obs), policy.action(x)
    scale = th.tensor([1.0, 3.0]) / 2.0  # std over its mean
    change = (((a - a0) / scale) ** 2).mean()
    expected = 0.5 * change - 0.5 * q_net(obs, a)  # minus the reference's minimised loss
    th.testing.assert_close(loss(policy, x, ref), expected)


def test_attack_errors_are_clear():
    q_net = QNetwork(2, 1, hidden=(4,))
    with pytest.raises(ValueError, match="action_ratio must be a number in"):
        RobustSarsaMAD(0.1, q_net=q_net, action_ratio=1.5)
    with pytest.raises(TypeError, match="q_net must be a QNetwork"):
        RobustSarsaAttack(0.1, q_net=th.nn.Linear(3, 1))
    discrete = LinearPolicy(th.ones(2, 2), discrete=True)
    with pytest.raises(ValueError, match="continuous actions"):
        RobustSarsaAttack(0.1, q_net=q_net)(th.zeros(1, 2), discrete)
    with pytest.raises(ValueError, match="2-dim observations"):
        RobustSarsaAttack(0.1, q_net=q_net)(th.zeros(1, 3), LinearPolicy(th.ones(1, 3)))


# --- data collection and training -----------------------------------------------------------


def test_each_transitions_successor_is_the_victims_next_step(hopper_policy):
    n_envs, horizon = 2, 7  # a short time limit: truncations are bootstrapped, not terminal
    venv = DummyVecEnv([lambda: Monitor(gym.make("Hopper-v5", max_episode_steps=horizon))] * 2)
    data = rs._Rollout(venv, hopper_policy, deterministic=False, seed=0).collect(10)
    obs = data.obs.view(10, n_envs, -1)
    nxt, nxt_act = data.next_obs.view(10, n_envs, -1), data.next_action.view(10, n_envs, -1)
    done = data.done.view(10, n_envs)
    assert done[horizon - 1].all() and not data.terminated.any() and done.sum() == n_envs
    keep = ~done[:-1]
    th.testing.assert_close(nxt[:-1][keep], obs[1:][keep])
    th.testing.assert_close(nxt_act[:-1][keep], data.action.view(10, n_envs, -1)[1:][keep])
    # At the cut, s' is the final observation (not the next episode's first) and a' the
    # victim's action there.
    assert not th.allclose(nxt[horizon - 1], obs[horizon])
    assert not th.allclose(nxt_act[horizon - 1], data.action.view(10, n_envs, -1)[horizon])


def test_the_card_says_what_the_critic_attacks(hopper_critic):
    critic, path = hopper_critic
    card = critic.card
    assert (card.kind, card.victim, card.eps, card.norm, card.steps, card.seed) == (
        "rs", "ppo-hopper", EPS, "linf", 256, 0)  # fmt: skip
    assert card.victim_digest == victim_digest("ppo-hopper")
    assert card.hyperparameters["sarsa_eps"] == 0.02 and card.hyperparameters["iterations"] == 2
    assert card.hyperparameters["learning_rate"] == 2.5e-4  # the reference's Hopper val_lr
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["command"] == "t" and len(record["history"]) == 2
    assert record["train_seconds"] >= 0


def test_training_is_seeded(hopper_critic):
    again = train_robust_sarsa("ppo-hopper", EPS, 256, n_envs=2, rollout_steps=128, seed=0)
    for a, b in zip(hopper_critic[0].q_net.parameters(), again.q_net.parameters(), strict=True):
        th.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("hidden", [(0,), (-3,), (2.5,), (True,), (8,) * 9, (2000,)])
def test_a_critic_refuses_bad_widths(hidden):
    with pytest.raises(ValueError, match="hidden must be at most 8 integer widths"):
        QNetwork(3, 1, hidden=hidden)
    with pytest.raises(ValueError, match="hidden must be at most 8 integer widths"):
        train_robust_sarsa("ppo-hopper", EPS, 64, hidden=hidden)


def test_training_input_errors_come_before_any_env():
    with pytest.raises(TypeError, match="unknown Robust Sarsa settings.*allowed"):
        train_robust_sarsa("ppo-hopper", EPS, 64, sarsa_epz=0.1)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        train_robust_sarsa("ppo-hopper", 0.0, 64)
    with pytest.raises(ValueError, match="td_pairs"):
        train_robust_sarsa("ppo-hopper", EPS, 64, td_pairs="shuffled")
    with pytest.raises(ValueError, match="continuous-action victim"):
        train_robust_sarsa("ppo-cartpole", 0.1, 64)


# --- the file: round trip, refusals, hostile files ------------------------------------------


@pytest.mark.parametrize("name", ["rs", "rs_mad"])
def test_save_load_round_trip_gives_the_same_attack(hopper_critic, hopper_policy, name):
    critic, path = hopper_critic
    loaded = load_attack(path, attack=name, victim="ppo-hopper", eps=EPS, norm="linf")
    assert type(loaded) is (RobustSarsaMAD if name == "rs_mad" else RobustSarsaAttack)
    obs = th.randn(5, 11, generator=th.Generator().manual_seed(0))
    expected = critic.attack(name)(obs, hopper_policy, th.Generator().manual_seed(7))
    got = loaded(obs, hopper_policy, th.Generator().manual_seed(7))
    th.testing.assert_close(got, expected, rtol=0, atol=0)
    assert not th.equal(got, obs)


def test_the_registry_loads_both_attacks(hopper_critic):
    _, path = hopper_critic
    rs_attack = load_learned_attack("rs", victim="ppo-hopper", eps=EPS, path=path)
    mad = load_learned_attack("rs_mad", victim="ppo-hopper", eps=EPS, path=path)
    assert type(rs_attack) is RobustSarsaAttack and rs_attack.action_ratio == 0.0
    assert type(mad) is RobustSarsaMAD and mad.action_ratio == 0.5
    assert (mad.steps, mad.step_size) == (10, pytest.approx(EPS / 10))


def test_a_file_for_another_victim_or_budget_is_refused_naming_both(hopper_critic, monkeypatch):
    _, path = hopper_critic
    # Refused from the header alone: the weights are never read.
    monkeypatch.setattr(rs, "load_qnet", lambda *a, **k: pytest.fail("weights were read"))
    with pytest.raises(ValueError, match="'ppo-hopper'.*not for 'ppo-walker2d'"):
        load_attack(path, victim="ppo-walker2d")
    with pytest.raises(ValueError, match="eps=0.075, not eps=0.05"):
        load_attack(path, victim="ppo-hopper", eps=0.05)
    with pytest.raises(ValueError, match="norm 'linf', not 'l2'"):
        load_attack(path, victim="ppo-hopper", eps=EPS, norm="l2")
    with pytest.raises(ValueError, match=r"runs \['rs', 'rs_mad'\], not 'optimal'"):
        load_attack(path, attack="optimal")


def test_a_loaded_critic_resaves_and_ignores_a_malformed_card(hopper_critic, tmp_path):
    critic, path = hopper_critic
    copy = critic.save(tmp_path / "rs-ppo-hopper.safetensors")
    record = json.loads(copy.with_suffix(".json").read_text())
    record.update(steps="many", env_kwargs=[1], history=None)
    copy.with_suffix(".json").write_text(json.dumps(record))
    loaded = rs.load_critic(copy, victim="ppo-hopper", eps=EPS)
    assert (loaded.card.steps, loaded.card.env_kwargs, loaded.history) == (0, {}, [])
    assert loaded.card.policy_kwargs["activation_fn"] is th.nn.Tanh
    again = loaded.save(tmp_path / "again.safetensors")
    assert json.loads(again.with_suffix(".json").read_text())["policy_kwargs"] == {
        "net_arch": [64, 64], "activation_fn": "tanh"}  # fmt: skip


GOOD_HEADER = dict(kind="rs", victim="ppo-hopper", victim_digest="0123456789abcdef", eps=0.075,
                   norm="linf", obs_dim=2, act_dim=1, hidden=[3], activation="tanh")  # fmt: skip
GOOD_TENSORS = {"q.0.weight": th.zeros(3, 3), "q.0.bias": th.zeros(3),
                "q.2.weight": th.zeros(1, 3), "q.2.bias": th.zeros(1)}  # fmt: skip


def write(path, header=None, tensors=None, raw_header=None):
    text = raw_header if raw_header is not None else json.dumps({**GOOD_HEADER, **(header or {})})
    save_file(tensors or GOOD_TENSORS, str(path), metadata={"advrl": text})
    return path


@pytest.mark.parametrize(
    ("header", "tensors", "raw", "match"),
    [
        ({"activation": "os.system"}, None, None, "activation 'os.system' is not allowed"),
        ({"hidden": [10**6]}, None, None, "hidden width must be an integer in"),
        ({"hidden": [3] * 9}, None, None, "at most 8 widths"),
        ({"obs_dim": 10**7}, None, None, "obs_dim must be an integer in"),
        ({"kind": "optimal"}, None, None, "kind 'optimal' is not allowed"),
        ({"norm": "l1"}, None, None, "norm 'l1' is not allowed"),
        ({"victim_digest": "../../etc"}, None, None, "victim_digest must be 16"),
        ({"eps": -1.0}, None, None, "eps must be a finite number > 0"),
        ({"extra": 1}, None, None, "unknown key 'extra'"),
        (None, None, '{"kind": "rs", "eps": NaN}', "NaN is not allowed"),
        (None, None, "not json", "corrupt"),
        ({"hidden": [4]}, None, None, "wrong shape or dtype"),
        (None, {**GOOD_TENSORS, "q.9.weight": th.zeros(1)}, None, r"unexpected tensors \['q.9"),
        (None, {**GOOD_TENSORS, "q.2.bias": th.tensor([float("nan")])}, None, "non-finite"),
        (None, {**GOOD_TENSORS, "q.2.bias": th.zeros(1, dtype=th.float64)}, None, "dtype"),
    ],
)
def test_hostile_critic_files_are_refused(tmp_path, header, tensors, raw, match):
    path = write(tmp_path / "q.safetensors", header, tensors, raw)
    with pytest.raises(CheckpointError, match=match):
        load_qnet(path)


def test_a_good_hand_written_file_loads(tmp_path):
    q_net, header = load_qnet(write(tmp_path / "q.safetensors"))
    assert header["eps"] == 0.075 and q_net.hidden == (3,)


def test_oversized_or_truncated_files_are_refused_before_parsing(tmp_path, monkeypatch):
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="declares a header of"):
        load_qnet(huge)
    (tmp_path / "short.safetensors").write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_qnet(tmp_path / "short.safetensors")
    path = write(tmp_path / "q.safetensors")
    monkeypatch.setattr(advrl.zoo.checkpoint, "MAX_FILE_BYTES", 100)
    with pytest.raises(CheckpointError, match="bytes; at most 100"):
        load_qnet(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_qnet(tmp_path / "missing.safetensors")


def test_the_training_command_writes_a_critic(tmp_path):
    cmd = [sys.executable, "-m", "advrl.attacks.learned.train", "--kind", "rs", "--victim",
           "ppo-hopper", "--steps", "64", "--out", str(tmp_path)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True)
    path = tmp_path / "rs-ppo-hopper.safetensors"
    assert json.loads(out.stdout.strip().splitlines()[-1])["path"] == str(path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["kind"] == "rs" and card["eps"] == EPS  # the env's standard eps
    assert card["command"].startswith("python -m advrl.attacks.learned.train --kind rs")
    assert type(load_attack(path, attack="rs", victim="ppo-hopper")) is RobustSarsaAttack
