"""Self-play from a pool, and players taking turns with a timescale ratio."""

import pytest
import torch as th
from stable_baselines3 import PPO

from advrl.agents.self_play import SelfPlay, TakeTurns
from advrl.envs.competitive import player_view

TINY = dict(n_steps=16, batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]))


def same_weights(a: dict, b: dict) -> bool:
    return all(th.equal(a[k], b[k]) for k in a)


def test_the_pool_keeps_the_latest_snapshots_and_the_opponent_plays_one_of_them():
    play = SelfPlay(n_envs=2, pool_size=10, random_share=0.0, ppo_kwargs=TINY, seed=1)
    initial = {k: v.clone() for k, v in play.model.policy.state_dict().items()}
    play.learn(32 * 4)  # four rollouts of 2 x 16 steps, each followed by an update
    assert len(play.pool) == 5  # the initial weights and one snapshot per rollout
    assert same_weights(play.pool[0], initial)
    assert not same_weights(play.pool[-1], initial)
    opponent = play.opponent_model.policy.state_dict()
    assert any(same_weights(opponent, snap) for snap in play.pool[:-1])  # drawn before the last
    assert play.opponent_model.policy is not play.model.policy  # a frozen copy, not the learner
    bounded = SelfPlay(n_envs=2, pool_size=2, random_share=0.0, ppo_kwargs=TINY).learn(32 * 4)
    assert len(bounded.pool) == 2


def test_random_share_one_always_plays_the_random_opponent():
    play = SelfPlay(n_envs=2, random_share=1.0, ppo_kwargs=TINY)
    play.learn(64)
    assert play.opponent.random
    actions = play.opponent(play.model.env.reset())
    assert actions.shape == (2, 4) and (abs(actions) <= 1).all()


def test_take_turns_trains_each_player_for_its_steps_and_never_the_frozen_one():
    victim = PPO("MlpPolicy", player_view("you_shall_not_pass", "runner"), seed=0, **TINY)
    before = {k: v.clone() for k, v in victim.policy.state_dict().items()}
    turns = TakeTurns("you_shall_not_pass", models={"runner": victim}, frozen=("runner",),
                      n_envs=2, ppo_kwargs=TINY)  # fmt: skip
    turns.learn(rounds=2)
    assert turns.models["blocker"].num_timesteps == 2 * 32
    runner = turns.models["runner"]
    assert runner is not victim and same_weights(before, runner.policy.state_dict())  # frozen
    assert same_weights(before, victim.policy.state_dict())  # the given model is only copied
    # a 4:1 timescale ratio between the players
    ratio = TakeTurns("sumo", steps={"player_0": 32, "player_1": 128}, n_envs=2, ppo_kwargs=TINY)
    ratio.learn(rounds=1)
    assert [ratio.models[a].num_timesteps for a in ("player_0", "player_1")] == [32, 128]


def test_bad_settings_are_refused_before_training():
    with pytest.raises(ValueError, match="self-play needs a symmetric game"):
        SelfPlay("you_shall_not_pass")
    with pytest.raises(ValueError, match="random_share must be in"):
        SelfPlay(random_share=1.5)
    with pytest.raises(ValueError, match="pool_size must be an int >= 1"):
        SelfPlay(pool_size=0)
    with pytest.raises(ValueError, match="unknown game 'go'"):
        TakeTurns("go")
    with pytest.raises(ValueError, match=r"steps names \['runner'\], not players of 'sumo'"):
        TakeTurns("sumo", steps={"runner": 10})
    with pytest.raises(ValueError, match="every player is frozen"):
        TakeTurns("sumo", frozen=("player_0", "player_1"))
    with pytest.raises(ValueError, match="rounds must be an int >= 1"):
        TakeTurns("sumo", n_envs=1, ppo_kwargs=TINY).learn(0)
