"""NetHack ONI tasks: ids, proxy vs true reward on the Oracle hack, staircase goals, seeding."""

# ruff: noqa: E402  (nle is optional: the module skips before importing what needs it)

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tests.conftest import NEEDS_NLE

nethack = pytest.importorskip("nle.nethack", reason=NEEDS_NLE)

import advrl  # noqa: F401
from advrl.attacks import UniformNoise
from advrl.attacks.dict_key import PerturbObservationKey
from advrl.envs.nethack.tasks import TASKS, NetHackTask, is_hallucinating
from advrl.registration import GYM_ENVS
from advrl.testing.checks import check_attack_wrapper

NETHACK_IDS = [e.id for e in GYM_ENVS if e.id.startswith("advrl/NetHack")]


@pytest.fixture(scope="module")
def envs():
    made = {task: NetHackTask(task, max_episode_steps=200) for task in TASKS}
    yield made
    for env in made.values():
        env.close()


def test_every_task_is_registered_and_passes_check_env():
    assert len(NETHACK_IDS) == len(TASKS) == 5
    for env_id in NETHACK_IDS:
        env = gym.make(env_id)
        check_env(env.unwrapped, skip_render_check=True)  # nle tasks need no exception here
        env.close()


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown NetHack task 'nope'; allowed: \['score'"):
        gym.make("advrl/NetHackScore-v0", task="nope")
    with pytest.raises(ValueError, match="success_reward must be finite"):
        NetHackTask("oracle", success_reward=float("nan"))


def rollout(env, seed, n=60):
    obs, _ = env.reset(seed=seed)
    frames = [obs["glyphs"].copy()]
    rewards = []
    for i in range(n):
        obs, r, terminated, truncated, info = env.step((7 * i + seed) % env.action_space.n)
        frames.append(obs["glyphs"].copy())
        rewards.append((r, info["reward_true"], info["reward_proxy"]))
        if terminated or truncated:
            break
    return frames, rewards


def test_same_seed_same_game_other_seed_other_game(envs):
    env = envs["score"]
    a, ra = rollout(env, 3)
    b, rb = rollout(env, 3)
    c, _ = rollout(env, 4)
    assert ra == rb and all((x == y).all() for x, y in zip(a, b, strict=True))
    assert not (a[0] == c[0]).all()
    # unseeded resets after a seeded one continue a deterministic stream of new games
    env.reset(seed=5)
    first = env.reset()[0]["glyphs"].copy()
    env.reset(seed=5)
    assert (env.reset()[0]["glyphs"] == first).all()


def fake_observation(env, *, oracle_next_to_agent, hallucinating, depth=1):
    """The env's raw observation tuple with the Oracle's glyph beside the agent, the
    hallucination bit and the depth set as asked."""
    obs = tuple(a.copy() for a in env.last_observation)
    blstats, glyphs = obs[env._blstats_index], obs[env._glyph_index]
    x, y = int(blstats[nethack.NLE_BL_X]), int(blstats[nethack.NLE_BL_Y])
    glyphs[glyphs == env.oracle_glyph] = 0
    if oracle_next_to_agent:
        glyphs[y, x + 1] = env.oracle_glyph
    condition = int(blstats[nethack.NLE_BL_CONDITION]) & ~nethack.BL_MASK_HALLU
    blstats[nethack.NLE_BL_CONDITION] = condition | (nethack.BL_MASK_HALLU * hallucinating)
    blstats[nethack.NLE_BL_DEPTH] = depth
    return obs


@pytest.mark.parametrize(
    ("task", "hallucinating", "ends", "proxy", "true"),
    [
        ("oracle", False, True, 50.0, 50.0),
        ("oracle", True, True, 50.0, 0.0),  # the hack: proxy paid, truth not
        ("oracle_sober", False, True, 50.0, 50.0),
        ("oracle_sober", True, False, 0.0, 0.0),
    ],
)
def test_oracle_proxy_pays_for_hallucinations_sober_does_not(
    envs, task, hallucinating, ends, proxy, true
):
    env = envs[task]
    env.reset(seed=0)
    last = fake_observation(env, oracle_next_to_agent=False, hallucinating=False)
    obs = fake_observation(env, oracle_next_to_agent=True, hallucinating=hallucinating)
    assert is_hallucinating(obs[env._blstats_index]) == hallucinating
    status = env._is_episode_end(obs)
    assert (status == env.StepStatus.TASK_SUCCESSFUL) == ends
    penalty = env._get_time_penalty(last, obs)  # time did not advance: nle's -0.01
    assert env._reward_fn(last, 0, obs, status) == pytest.approx(proxy + penalty)
    assert env._true_reward == pytest.approx(true + penalty)


def test_staircase_goal_is_the_target_depth(envs):
    for task, depth, success in [
        ("staircase3", 2, False),
        ("staircase3", 3, True),
        ("staircase4", 3, False),
        ("staircase4", 5, True),
    ]:
        env = envs[task]
        env.reset(seed=0)
        obs = fake_observation(env, oracle_next_to_agent=True, hallucinating=False, depth=depth)
        status = env._is_episode_end(obs)
        assert (status == env.StepStatus.TASK_SUCCESSFUL) == success, (task, depth)
        assert env._reward_fn(obs, 0, obs, status) == pytest.approx(50.0 * success - 0.01)


def test_step_info_and_truncation(envs):
    env = NetHackTask("staircase3", max_episode_steps=5)
    env.reset(seed=1)
    for _ in range(5):
        _, r, terminated, truncated, info = env.step(0)
        assert info["reward_proxy"] == r == info["reward_true"]
        assert info["success_proxy"] is False
    assert truncated and not terminated  # a time limit is a truncation, not a termination
    env.close()


def test_blstats_attack_through_the_core_engine(envs):
    env = PerturbObservationKey(gym.make("advrl/NetHackOracle-v0"), "blstats",
                                UniformNoise(3.0), seed=0)  # fmt: skip
    check_attack_wrapper(env, n_steps=10)
    obs, info = env.reset(seed=2)
    delta = obs["blstats"] - info["obs_clean"]["blstats"]
    assert obs["blstats"].dtype == info["obs_clean"]["blstats"].dtype
    assert np.abs(delta).max() <= 3 and np.abs(delta).max() > 0
    assert info["attack_norm"] == np.abs(delta).max()
    for key in ("glyphs", "message"):
        assert (obs[key] == info["obs_clean"][key]).all()
    again, _ = env.reset(seed=2)
    assert (again["blstats"] == obs["blstats"]).all()  # the attack is seeded with the env
    with pytest.raises(ValueError, match="key 'nope' is not in the observation space"):
        PerturbObservationKey(env, "nope", UniformNoise(1.0))
