"""The two-player MuJoCo games: rules, rewards, symmetry, copies, errors and an SB3 view.

(parallel_api_test, parallel_seed_test, AEC and pickling over every registered id run in
test_forces.py, test_pettingzoo_aec.py and test_pickle_all.py.)"""

import copy
import pickle

import numpy as np
import pytest

from advrl.envs.agent_view import AgentView
from advrl.envs.competitive import OBS_DIM, Sumo, YouShallNotPass


def charge(obs):
    """Thrust straight at the opponent (its relative position is obs[9:11])."""
    d = obs[9:11]
    return np.r_[d / (np.linalg.norm(d) + 1e-9), 0.0, 0.0]


def still(_obs):
    return np.zeros(4)


def play(env, policies, seed):
    obs, _ = env.reset(seed=seed)
    totals = dict.fromkeys(env.possible_agents, 0.0)
    parts = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        obs, rewards, _, _, infos = env.step({a: policies[a](obs[a]) for a in env.agents})
        for a, r in rewards.items():
            totals[a] += r
            parts[a] += infos[a]["reward_shaping"]
    return infos, totals, parts


def test_sumo_charging_pushes_a_still_player_out_and_wins():
    env = Sumo(max_cycles=300)
    infos, totals, shaping = play(env, {"player_0": charge, "player_1": still}, seed=0)
    assert infos["player_0"]["winner"] == "player_0"
    assert infos["player_0"]["reward_win"] == 10.0 and infos["player_1"]["reward_win"] == -10.0
    assert np.linalg.norm(env.positions()[1]) > env.ring_radius  # the loser is out
    assert np.linalg.norm(env.positions()[0]) <= env.ring_radius
    assert shaping["player_0"] == pytest.approx(-shaping["player_1"])  # zero-sum shaping
    assert shaping["player_0"] > 0
    # both sides are played the same way: swapping who charges swaps the result
    infos, _, _ = play(env, {"player_0": still, "player_1": charge}, seed=0)
    assert infos["player_1"]["winner"] == "player_1"


def test_sumo_is_symmetric_each_player_sees_the_game_in_its_own_frame():
    env = Sumo(reset_noise=0.0)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs["player_0"], obs["player_1"], atol=1e-12)
    # the same action in each player's own frame keeps the game symmetric
    for _ in range(10):
        obs, *_ = env.step({a: np.array([0.3, 0.5, 0.2, -0.4]) for a in env.agents})
    np.testing.assert_allclose(obs["player_0"], obs["player_1"], atol=1e-9)
    assert obs["player_0"].shape == (OBS_DIM,)


def test_sumo_time_limit_is_a_draw_with_truncation():
    env = Sumo(max_cycles=5)
    env.reset(seed=0)
    for _ in range(5):
        _, rewards, term, trunc, infos = env.step({a: np.zeros(4) for a in env.agents})
    assert trunc == {"player_0": True, "player_1": True} and not any(term.values())
    assert infos["player_0"]["winner"] is None and infos["player_0"]["reward_win"] == 0.0
    assert env.agents == []


def test_runner_wins_by_crossing_the_line_and_the_blocker_by_holding_until_time():
    env = YouShallNotPass()
    run = lambda o: np.array([1.0, 0.0, 0.0, 0.0])  # noqa: E731
    infos, totals, shaping = play(env, {"runner": run, "blocker": lambda o: np.array(
        [0.0, 1.0, 0.0, 0.0])}, seed=0)  # fmt: skip
    assert infos["runner"]["winner"] == "runner"  # the blocker stepped aside
    assert env.positions()[0, 0] >= env.finish_x
    assert shaping["runner"] == pytest.approx(-shaping["blocker"])
    # progress normalised by the corridor's length, times the shaping coefficient
    assert 0.9 * env.shaping < shaping["runner"] < 1.2 * env.shaping
    infos, _, _ = play(YouShallNotPass(max_cycles=40), {"runner": run, "blocker": still}, 0)
    assert infos["blocker"]["winner"] == "blocker" and infos["runner"]["reward_win"] == -10.0


def test_the_corridor_pays_more_for_progress_than_the_ring_unless_told():
    # The corridor's shaping is 20 (at sumo's 5 a PPO runner never learned to run); a given
    # value is kept, and the crossing is worth it.
    assert YouShallNotPass().shaping == 20.0 and Sumo().shaping == 5.0
    env = YouShallNotPass(shaping=3.0)
    run = lambda o: np.array([1.0, 0.0, 0.0, 0.0])  # noqa: E731
    _, _, shaping = play(env, {"runner": run, "blocker": lambda o: np.array([0.0, 1.0, 0, 0])}, 0)
    assert env.shaping == 3.0 and 0.9 * 3.0 < shaping["runner"] < 1.2 * 3.0


def test_the_walls_keep_players_in_the_corridor():
    env = YouShallNotPass(max_cycles=100)
    env.reset(seed=0)
    for _ in range(100):
        if not env.agents:
            break
        env.step({"runner": np.array([0.0, 1.0, 0, 0]), "blocker": np.array([-1.0, -1.0, 0, 0])})
    y = env.positions()[:, 1]
    assert (np.abs(y) < env.half_width).all()
    assert env.positions()[1, 0] > -4.0  # the back wall


def test_reward_parts_add_up_and_control_costs():
    env = Sumo(ctrl_cost=0.5)
    env.reset(seed=1)
    a = np.array([1.0, 0.0, 1.0, 0.0])
    _, rewards, _, _, infos = env.step({"player_0": a, "player_1": np.zeros(4)})
    info = infos["player_0"]
    assert info["reward_ctrl"] == pytest.approx(-0.5 * 2.0)
    assert rewards["player_0"] == pytest.approx(
        info["reward_win"] + info["reward_shaping"] + info["reward_approach"] + info["reward_ctrl"]
    )
    assert infos["player_1"]["reward_ctrl"] == 0.0
    assert infos["player_1"]["reward_approach"] == info["reward_approach"]  # both get it


def test_sumo_shaping_is_the_convex_potential_by_hand():
    env = Sumo(ring_radius=2.0)
    before, after = np.array([[0.5, 0.0], [1.0, 0.0]]), np.array([[0.5, 0.0], [1.5, 0.0]])
    gain = (1.5 / 2) ** 2 - (1.0 / 2) ** 2  # the opponent's potential grew, one's own did not
    np.testing.assert_allclose(env.progress(before, after), [gain, -gain])
    # pushing together, both moving out by 0.5: the pusher still gains (linear would be 0)
    together = env.progress(before, before + [0.5, 0.0])
    assert together[0] == pytest.approx(((1.5 / 2) ** 2 - 0.25) - ((1.0 / 2) ** 2 - 1 / 16))
    assert together[0] > 0


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_copy_mid_episode_plays_on_identically(how):
    env = Sumo()
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.step({a: rng.uniform(-1, 1, 4) for a in env.agents})
    twin = pickle.loads(pickle.dumps(env)) if how == "pickle" else copy.deepcopy(env)
    acts = [{a: rng.uniform(-1, 1, 4) for a in env.agents} for _ in range(30)]
    for act in acts:
        o1, r1, *_ = env.step(act)
        o2, r2, *_ = twin.step(act)
        np.testing.assert_array_equal(o1["player_0"], o2["player_0"])
        assert r1 == r2
    # and the copy has its own physics: stepping one leaves the other alone
    before = twin.positions()
    env.step({a: np.ones(4) for a in env.agents})
    np.testing.assert_array_equal(twin.positions(), before)


def test_an_agent_view_trains_with_sb3_against_a_fixed_opponent():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3 import PPO

    view = AgentView(Sumo(max_cycles=20), "player_0", {"player_1": "random"})
    check_env(view, skip_render_check=True)
    model = PPO("MlpPolicy", view, n_steps=64, batch_size=32, n_epochs=1,
                policy_kwargs=dict(net_arch=[8]), seed=0, device="cpu")  # fmt: skip
    model.learn(128)
    assert model.num_timesteps >= 128


def test_bad_settings_get_clear_errors():
    with pytest.raises(ValueError, match="max_cycles must be an int >= 1, got 0"):
        Sumo(max_cycles=0)
    with pytest.raises(ValueError, match="win_reward must be a finite number >= 0, got -1"):
        YouShallNotPass(win_reward=-1)
    with pytest.raises(ValueError, match="ring_radius must be a finite number > 0.5"):
        Sumo(ring_radius=0.1)
    with pytest.raises(ValueError, match="start_distance must be in"):
        Sumo(start_distance=10.0)
    with pytest.raises(ValueError, match="render_mode must be None or 'rgb_array'"):
        Sumo(render_mode="human")
    env = Sumo()
    with pytest.raises(ValueError, match="unknown agent 'runner'"):
        env.observation_space("runner")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected exactly"):
        env.step({"player_0": np.zeros(4)})
