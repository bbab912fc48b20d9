"""The composite-reward wrappers and ConstrainedPPO: rewards, multipliers, save/load, errors."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.constrained import ConstrainedPPO, VecComposeRewards, VecRewardComponents
from advrl.agents.reward_models import RewardNet

TINY = dict(
    n_steps=64, batch_size=64, n_epochs=1, policy_kwargs=dict(net_arch=[8]), device="cpu", seed=0
)


@pytest.fixture(autouse=True)
def _one_thread():
    th.set_num_threads(1)


def cheetah(n=2):
    return make_vec_env("HalfCheetah-v5", n, seed=0, env_kwargs=dict(max_episode_steps=32))


def test_composite_is_the_weighted_sum_and_keeps_the_truth():
    venv = VecComposeRewards(cheetah(), ["forward", "ctrl"], weights=[0.5, -2.0])
    venv.reset()
    for _ in range(40):  # across an episode end
        _, r, dones, infos = venv.step(np.random.default_rng(0).uniform(-1, 1, (2, 6)))
        for reward, info in zip(r, infos, strict=True):
            want = 0.5 * info["reward_forward"] - 2.0 * info["reward_ctrl"]
            assert reward == pytest.approx(want, abs=1e-5)
            assert info["reward_proxy"] == pytest.approx(want)
            # the env's own reward (forward + ctrl) stays the truth
            assert info["reward_true"] == pytest.approx(
                info["reward_forward"] + info["reward_ctrl"], abs=1e-5
            )
    episodes = venv.pop_episodes()
    assert episodes.shape == (2, 2) and venv.pop_episodes().shape == (0, 2)


def test_learned_components_land_in_info():
    venv = cheetah()
    net = RewardNet(venv.observation_space, venv.action_space, (8,))
    venv = VecComposeRewards(VecRewardComponents(venv, {"rm": net}), ["rm", "ctrl"])
    obs = venv.reset()
    action = np.zeros((2, 6), np.float32)
    _, r, _, infos = venv.step(action)
    with th.no_grad():
        want = net(th.as_tensor(obs), th.as_tensor(action), th.as_tensor(venv.venv._last_obs))
    assert [i["reward_rm"] for i in infos] == pytest.approx(want.numpy().tolist(), abs=1e-5)
    assert r == pytest.approx(want.numpy() + [i["reward_ctrl"] for i in infos], abs=1e-5)


def test_learned_component_may_not_hide_the_env_reward_part():
    venv = cheetah()
    net = RewardNet(venv.observation_space, venv.action_space, (8,))
    venv = VecRewardComponents(venv, {"forward": net})
    venv.reset()
    with pytest.raises(ValueError, match="overwrite the env's info\\['reward_forward'\\]"):
        venv.step(np.zeros((2, 6), np.float32))


def test_multiplier_rises_over_threshold_and_the_weight_follows():
    # forward return of a random cheetah over 32 steps is far above -100: violated
    model = ConstrainedPPO(
        "MlpPolicy",
        cheetah(),
        components=["forward", "ctrl"],
        thresholds={"forward": -100.0},
        multiplier_lr=4.0,
        **TINY,
    )
    mu0 = model.multipliers["forward"]
    model.learn(256)
    assert model.multipliers["forward"] > mu0 + 0.5
    assert model.weights["forward"] == pytest.approx(1 - model.multipliers["forward"])
    assert model.weights["ctrl"] == 1.0  # unconstrained
    assert model.env.weights.tolist() == pytest.approx(list(model.weights.values()))
    # far below a threshold of +100 it falls back
    model.thresholds = {"forward": 100.0}
    high = model.multipliers["forward"]
    model.learn(512, reset_num_timesteps=False)
    assert model.multipliers["forward"] < high


def test_save_load_round_trips_the_multipliers(tmp_path):
    model = ConstrainedPPO(
        "MlpPolicy", cheetah(), components=["forward", "ctrl"], thresholds=[-100.0, 5.0], **TINY
    )
    model.learn(128)
    model.save(tmp_path / "m.zip")
    loaded = ConstrainedPPO.load(tmp_path / "m.zip", env=cheetah(), device="cpu")
    assert loaded.multipliers == pytest.approx(model.multipliers)
    assert loaded.thresholds == model.thresholds
    assert np.allclose(loaded.multiplier_velocity, model.multiplier_velocity)
    assert isinstance(loaded.env, VecComposeRewards)
    assert loaded.env.weights.tolist() == pytest.approx(list(model.weights.values()))
    loaded.learn(64)  # and it trains on


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(thresholds={"forward": None}), "constraint on 'forward' has no threshold"),
        (dict(thresholds={"forward": float("nan")}), "no threshold"),
        (dict(thresholds=None), "thresholds is required"),
        (dict(thresholds={}), "no constraint given"),
        (dict(thresholds={"speed": 1.0}), "unknown component 'speed'"),
        (dict(thresholds=[1.0]), "got 1 thresholds for 2 components"),
        (dict(thresholds={"forward": 1.0}, multiplier_lr=-0.1), "learning rate must be"),
        (dict(thresholds={"forward": 1.0}, sense="lower"), "unknown constraint sense"),
        (dict(thresholds={"forward": 1.0}, multiplier_init=3.0), "strictly in"),
        (dict(thresholds={"forward": 1.0}, components=["forward", "forward"]), "duplicate"),
    ],
)
def test_bad_settings_fail_before_training(kwargs, match):
    kwargs = {"components": ["forward", "ctrl"], **kwargs}
    with pytest.raises(ValueError, match=match):
        ConstrainedPPO("MlpPolicy", cheetah(), **kwargs, **TINY)


def test_a_component_the_env_lacks_fails_at_the_first_step():
    model = ConstrainedPPO(
        "MlpPolicy", cheetah(), components=["forward", "speed"], thresholds={"forward": 1.0}, **TINY
    )
    with pytest.raises(ValueError, match=r"no \['reward_speed'\].*reward_ctrl"):
        model.learn(64)
    assert model.num_timesteps == 0


def test_multipliers_and_weights_reach_the_logger():
    from stable_baselines3.common.logger import KVWriter, Logger

    rows = []

    class Capture(KVWriter):
        def write(self, key_values, key_excluded, step=0):
            rows.append(dict(key_values))

    model = ConstrainedPPO(
        "MlpPolicy",
        cheetah(),
        components=["forward", "ctrl"],
        thresholds={"forward": -100.0},
        **TINY,
    )
    model.set_logger(Logger(None, [Capture()]))
    model.learn(128)
    assert rows and rows[-1]["constrained/mu_forward"] == pytest.approx(
        model.multipliers["forward"]
    )
    assert {"constrained/weight_ctrl", "constrained/return_forward"} <= set(rows[-1])
