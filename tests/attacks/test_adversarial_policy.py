"""Adversarial policies: the budget is respected (and applied), matches are counted right,
the attacker's env is what it says, and bad input is refused before any step."""

import numpy as np
import pytest
import torch as th
from pettingzoo.test import parallel_api_test, parallel_seed_test
from stable_baselines3 import PPO

from advrl.attacks.adversarial_policy import (
    PartialControl,
    adversary_env,
    play_matches,
    train_adversarial_policy,
)
from advrl.envs.competitive import Sumo, YouShallNotPass, player_view

ATTACK, NORMAL = np.array([1.0, 0.5, -1.0, 0.25]), np.zeros(4)
TINY = dict(n_steps=32, batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]))


def constant(action):
    return lambda obs: np.tile(action, (len(obs), 1))


def executed_share(budget, mode="mixture", steps=2000):
    """Share of steps at which the executed action was the attacker's (read back from the
    physics: the controls written into MuJoCo)."""
    game = Sumo(max_cycles=10_000, ring_radius=1000.0)  # nobody leaves: the game goes on
    env = PartialControl(game, "player_1", constant(NORMAL), budget, mode)
    env.reset(seed=0)
    hits, ctrl = 0, []
    for _ in range(steps):
        _, _, _, _, infos = env.step({"player_0": NORMAL, "player_1": ATTACK})
        applied = env.unwrapped.data.ctrl[4:8].copy()
        applied[:2] *= -1  # player_1 acts in its own (turned) frame
        ctrl.append(applied)
        hits += infos["player_1"]["attacker_acts"]
    return hits / steps, np.array(ctrl)


@pytest.mark.parametrize("budget", [0.0, 0.3, 1.0])
def test_mixture_budget_is_the_share_of_steps_the_attacker_controls(budget):
    share, ctrl = executed_share(budget)
    from_attacker = np.all(np.isclose(ctrl, ATTACK), axis=1)
    from_normal = np.all(np.isclose(ctrl, NORMAL), axis=1)
    assert (from_attacker | from_normal).all()  # each step is one or the other, never a mix
    assert from_attacker.mean() == pytest.approx(share)
    assert share == pytest.approx(budget, abs=0.035)


def test_interpolate_mode_plays_the_convex_combination():
    share, ctrl = executed_share(0.25, mode="interpolate", steps=5)
    np.testing.assert_allclose(ctrl, np.tile(0.25 * ATTACK, (5, 1)))
    assert share == 0.25


def test_partial_control_passes_pettingzoo_tests_and_is_seeded():
    still = constant(NORMAL)
    parallel_api_test(PartialControl(Sumo(max_cycles=30), "player_1", still, 0.5), 40)
    parallel_seed_test(lambda: PartialControl(YouShallNotPass(max_cycles=30), "blocker", still,
                                              0.5), num_cycles=40)  # fmt: skip
    a, b = (PartialControl(Sumo(), "player_1", still, 0.5) for _ in range(2))
    a.reset(seed=7), b.reset(seed=7)
    flips = [[env.step({"player_0": NORMAL, "player_1": ATTACK})[4]["player_1"]["attacker_acts"]
              for _ in range(50)] for env in (a, b)]  # fmt: skip
    assert flips[0] == flips[1] and 0 < sum(flips[0]) < 50


def charge(obs):
    d = obs[:, 9:11]
    return np.c_[d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9), np.zeros((len(obs), 2))]


def test_play_matches_counts_wins_losses_and_draws():
    record = play_matches(Sumo, {"player_0": charge, "player_1": constant(NORMAL)}, "player_0",
                          episodes=10, n_envs=4)  # fmt: skip
    assert (record.wins, record.losses, record.draws) == (10, 0, 0)
    low, high = record.win_interval()
    assert high == 1.0 and 0.65 < low < 0.75  # Wilson: 10/10 gives [0.722, 1]
    assert record.shaping["player_0"] > 0 > record.shaping["player_1"]
    both = play_matches(Sumo, {"player_0": charge, "player_1": charge}, "player_1", episodes=3)
    assert both.draws == 3 and both.win_rate == 0.0
    mirrored = play_matches(Sumo, {"player_0": constant(NORMAL), "player_1": charge},
                            "player_0", episodes=5)  # fmt: skip
    assert mirrored.losses == 5 and mirrored.loss_interval()[1] == 1.0


def test_the_adversary_env_plays_against_the_frozen_victim():
    victim = PPO("MlpPolicy", player_view("sumo"), seed=0, **TINY)
    before = [p.detach().clone() for p in victim.policy.parameters()]
    adversary = train_adversarial_policy("sumo", victim, "player_0", 64, n_envs=2,
                                         ppo_kwargs=TINY)  # fmt: skip
    assert adversary.num_timesteps == 64
    assert all(th.equal(a, b) for a, b in zip(before, victim.policy.parameters(), strict=True))
    venv = adversary_env("sumo", victim, "player_0", n_envs=2).venv
    assert venv.agent == "player_1" and venv.others == ["player_0"]


def test_bad_input_is_refused_before_any_step():
    victim = PPO("MlpPolicy", player_view("sumo"), seed=0, **TINY)
    with pytest.raises(ValueError, match=r"budget must be a number in \[0, 1\].*got -0.1"):
        adversary_env("sumo", victim, "player_0", budget=-0.1)
    with pytest.raises(ValueError, match="unknown game 'chess'"):
        adversary_env("chess", victim, "player_0")
    with pytest.raises(ValueError, match="unknown victim agent 'runner'"):
        adversary_env("sumo", victim, "runner")
    with pytest.raises(ValueError, match="needs the opponent's normal policy"):
        adversary_env("sumo", victim, "player_0", budget=0.5)
    cartpole = PPO("MlpPolicy", "CartPole-v1", **TINY)
    with pytest.raises(ValueError, match="does not fit player 'player_0'"):
        adversary_env("sumo", cartpole, "player_0")
    with pytest.raises(ValueError, match="unknown mode 'blend'"):
        PartialControl(Sumo(), "player_1", constant(NORMAL), 0.5, mode="blend")
    with pytest.raises(ValueError, match="unknown agent 'blocker'"):
        PartialControl(Sumo(), "blocker", constant(NORMAL))
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        train_adversarial_policy("sumo", victim, "player_0", 0)
    with pytest.raises(ValueError, match="episodes must be an int >= 1"):
        play_matches(Sumo, {"player_0": charge, "player_1": charge}, "player_0", episodes=0)


def test_the_batched_vec_wrapper_mixes_per_env_within_the_budget():
    victim = PPO("MlpPolicy", player_view("sumo"), seed=0, **TINY)
    normal = PPO("MlpPolicy", player_view("sumo"), seed=1, **TINY)
    venv = adversary_env("sumo", victim, "player_0", normal, budget=0.4, n_envs=4,
                         game_kwargs=dict(ring_radius=1000.0, max_cycles=10_000))  # fmt: skip
    wrapper, games = venv.venv, venv.venv.venv.envs
    wrapper.normal.deterministic = True  # so the test can recompute the normal actions
    obs = venv.reset()
    shares, matched = [], []
    for _ in range(250):
        expected_normal = wrapper.normal(obs)
        venv.step_async(np.tile(ATTACK, (4, 1)))
        obs, _, _, infos = venv.step_wait()
        for game, info, normal_action in zip(games, infos, expected_normal, strict=True):
            applied = game.data.ctrl[4:8].copy()
            applied[:2] *= -1  # player_1's own frame
            want = ATTACK if info["attacker_acts"] else np.clip(normal_action, -1, 1)
            matched.append(np.allclose(applied, want))
            shares.append(info["attacker_acts"])
    assert all(matched)  # every env ran the action the coin said
    assert np.mean(shares) == pytest.approx(0.4, abs=0.05)
