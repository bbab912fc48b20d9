"""Lipschitz-regularised critics: spectral norm on V, value penalties, LipschitzPPO."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from advrl.agents.lipschitz import is_spectral_normalized
from advrl.agents.lipschitz_critics import (
    LipschitzPPO,
    LipschitzValuePolicy,
    adversarial_states,
    adversarial_value_penalty,
    value_fn,
    value_gradient_penalty,
)

TINY = dict(n_steps=32, batch_size=32, n_epochs=1, device="cpu", seed=0)
LINEAR_V = dict(net_arch=dict(pi=[8], vf=[]))  # V(s) = w . s + b: penalties by hand


def _linears(module):
    return [m for m in module.modules() if isinstance(m, th.nn.Linear)]


def test_spectral_norm_bounds_the_value_net_and_leaves_the_actor_alone():
    kwargs = dict(net_arch=dict(pi=[16, 16], vf=[16, 16]))
    sn = LipschitzPPO("MlpPolicy", "Pendulum-v1", spectral_norm=True, policy_kwargs=kwargs,
                      **TINY).policy  # fmt: skip
    plain = LipschitzPPO("MlpPolicy", "Pendulum-v1", policy_kwargs=kwargs, **TINY).policy
    assert is_spectral_normalized(sn.mlp_extractor.value_net)
    assert is_spectral_normalized(sn.value_net)
    for layer in _linears(sn.mlp_extractor.value_net) + _linears(sn.value_net):
        assert th.linalg.matrix_norm(layer.weight.detach(), ord=2).item() == pytest.approx(
            1.0, abs=1e-3
        )
    # The actor is the vanilla one: same layers, same initial weights, no parametrisation.
    assert not any(is_spectral_normalized(m) for m in (sn.mlp_extractor.policy_net,
                                                        sn.action_net))  # fmt: skip
    for a, b in zip(_linears(sn.mlp_extractor.policy_net) + [sn.action_net],
                    _linears(plain.mlp_extractor.policy_net) + [plain.action_net],
                    strict=True):  # fmt: skip
        assert th.equal(a.weight, b.weight)
    assert {id(p) for g in sn.optimizer.param_groups for p in g["params"]} == {
        id(p) for p in sn.parameters()
    }


def test_value_lipschitz_bounds_the_gradient_of_v():
    model = LipschitzPPO("MlpPolicy", "Pendulum-v1", spectral_norm=True, value_lipschitz=3.0,
                         policy_kwargs=dict(net_arch=[32, 32]), **TINY)  # fmt: skip
    model.policy.set_training_mode(False)
    obs = th.randn(256, 3, generator=th.Generator().manual_seed(0)) * 5
    from advrl.agents.lipschitz import gradient_norms

    norms = gradient_norms(value_fn(model.policy), [obs], create_graph=False)
    assert norms.max().item() <= 3.0 * 1.001


def test_spectral_norm_survives_save_and_load(tmp_path):
    model = LipschitzPPO("MlpPolicy", "Pendulum-v1", spectral_norm=True, value_lipschitz=5.0,
                         policy_kwargs=dict(net_arch=[8]), **TINY)  # fmt: skip
    model.learn(64)
    model.save(tmp_path / "m.zip")
    loaded = LipschitzPPO.load(tmp_path / "m.zip", device="cpu")
    assert is_spectral_normalized(loaded.policy.value_net)
    assert loaded.policy.value_lipschitz == 5.0
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0],
                          model.predict(obs, deterministic=True)[0])  # fmt: skip
    for m in (model, loaded):
        m.policy.set_training_mode(False)
    o = th.as_tensor(obs)
    assert th.equal(loaded.policy.predict_values(o), model.policy.predict_values(o))
    # The policy alone round-trips too (BasePolicy.save uses _get_constructor_parameters).
    model.policy.save(tmp_path / "p.pt")
    policy = LipschitzValuePolicy.load(tmp_path / "p.pt", device="cpu")
    policy.set_training_mode(False)
    assert th.equal(policy.predict_values(o), model.policy.predict_values(o))


def test_value_gradient_penalty_by_hand():
    w = th.tensor([3.0, 4.0])  # ||grad V|| = 5
    v = lambda s: s @ w  # noqa: E731
    obs = th.randn(6, 2)
    assert value_gradient_penalty(v, obs, target=1.0).item() == pytest.approx(16.0)
    assert value_gradient_penalty(v, obs, target=7.0).item() == 0.0
    assert value_gradient_penalty(v, obs, target=7.0, one_sided=False).item() == pytest.approx(4.0)
    # A Q critic: the gradient is w.r.t. the observation only.
    q = lambda s, a: s @ w + 10.0 * a.sum(dim=1)  # noqa: E731
    assert value_gradient_penalty(q, obs, th.ones(6, 1), target=1.0).item() == pytest.approx(16.0)


def test_adversarial_penalty_finds_the_worst_corner_of_a_linear_v():
    w = th.tensor([2.0, -1.0])
    v = lambda s: s @ w  # noqa: E731
    obs = th.randn(5, 2, generator=th.Generator().manual_seed(1))
    adv = adversarial_states(v, obs, eps=0.1, steps=3, generator=th.Generator().manual_seed(0))
    assert (adv - obs).abs().max().item() <= 0.1 + 1e-6
    # |V(s + d) - V(s)| <= eps ||w||_1 = 0.3, reached at a corner of the ball.
    penalty = adversarial_value_penalty(v, obs, eps=0.1, generator=th.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(0.3**2, rel=1e-5)


class _Detached(BaseFeaturesExtractor):
    """Features cut off from the observation: V has no gradient path to it."""

    def __init__(self, space):
        super().__init__(space, int(np.prod(space.shape)))

    def forward(self, obs):
        return obs.detach()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(value_penalty="lipschitz"), ValueError, "unknown value_penalty"),
        (dict(value_penalty="gradient", penalty_coef=-1.0), ValueError, "penalty_coef"),
        (dict(value_penalty="adversarial", adv_eps=-0.1), ValueError, "adv_eps"),
        (dict(value_penalty="adversarial", adv_steps=0), ValueError, "adv_steps"),
        (dict(value_penalty="gradient", gp_site="interpolates"), ValueError, "gp_site"),
        (dict(spectral_norm=True, value_lipschitz=0.0), ValueError, "value_lipschitz"),
        (
            dict(value_penalty="gradient", policy_kwargs=dict(features_extractor_class=_Detached)),
            ValueError,
            "ignores every input",
        ),  # fmt: skip
    ],
)
def test_bad_settings_fail_before_training(kwargs, error, match):
    with pytest.raises(error, match=match):
        LipschitzPPO("MlpPolicy", "Pendulum-v1", **{**TINY, **kwargs})


def test_spectral_norm_needs_the_lipschitz_policy():
    with pytest.raises(TypeError, match="LipschitzValuePolicy"):
        LipschitzPPO(ActorCriticPolicy, "Pendulum-v1", spectral_norm=True, **TINY)


def test_a_value_penalty_needs_box_observations():
    with pytest.raises(TypeError, match="Box observation space"):
        LipschitzPPO("MlpPolicy", "FrozenLake-v1", value_penalty="gradient", **TINY)


@pytest.mark.parametrize("penalty", ["gradient", "adversarial"])
def test_the_loss_grows_by_exactly_coef_times_the_penalty(penalty):
    """A linear V, learning rate 0 (the nets never move, both runs see the same rollout):
    the logged loss differs by ``coef * penalty``, and the penalty is the hand value."""
    w = th.tensor([[0.5, -2.0, 1.0]])  # ||w||_2 = sqrt(5.25), ||w||_1 = 3.5
    logs = {}
    for coef in (0.0, 2.5):
        model = LipschitzPPO("MlpPolicy", "Pendulum-v1", value_penalty=penalty,
                             penalty_coef=coef, gp_target=1.0, adv_eps=0.2, learning_rate=0.0,
                             policy_kwargs=LINEAR_V, **TINY)  # fmt: skip
        model.policy.value_net.weight.data.copy_(w)
        model.learn(32)
        logs[coef] = dict(model.logger.name_to_value)
    pen = logs[2.5]["train/value_penalty"]
    expected = (5.25**0.5 - 1.0) ** 2 if penalty == "gradient" else (0.2 * 3.5) ** 2
    assert pen == pytest.approx(expected, rel=1e-4)
    assert logs[0.0]["train/value_penalty"] == pytest.approx(pen, rel=1e-6)
    assert logs[2.5]["train/loss"] - logs[0.0]["train/loss"] == pytest.approx(2.5 * pen, rel=1e-4)
    # The local Lipschitz estimate of a linear V is ||w||_2, logged with every update.
    assert logs[2.5]["train/value_lipschitz"] == pytest.approx(5.25**0.5, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(spectral_norm=True),
        dict(value_penalty="gradient", gp_site="policy_noise"),
        dict(value_penalty="adversarial", spectral_norm=True),
    ],  # fmt: skip
)
def test_smoke_training_logs_the_lipschitz_estimate(kwargs):
    model = LipschitzPPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[8]),
                         **{**TINY, "n_steps": 64}, **kwargs)  # fmt: skip
    model.learn(128)
    assert np.isfinite(model.logger.name_to_value["train/value_lipschitz"])
    if "value_penalty" in kwargs:
        assert np.isfinite(model.logger.name_to_value["train/value_penalty"])
