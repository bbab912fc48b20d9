"""The action-distribution baseline and the epsilon-random reference."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from advrl.agents.orpo import ActionKLPPO, EpsilonReference, categorical_kl
from advrl.testing import LinearPolicy


def prefers_left():
    # A CartPole "policy" whose logits strongly prefer action 0 everywhere.
    return LinearPolicy(th.zeros(2, 4), bias=th.tensor([3.0, -3.0]), discrete=True)


def test_epsilon_reference_is_the_mixture():
    ref = EpsilonReference(prefers_left(), epsilon=0.2, seed=0)
    probs = ref.action_logits(th.zeros(1, 4)).exp()[0]
    p0 = 0.8 * float(th.softmax(th.tensor([3.0, -3.0]), 0)[0]) + 0.1
    assert float(probs[0]) == pytest.approx(p0, rel=1e-6)
    actions, _ = ref.predict(np.zeros((20000, 4), dtype=np.float32))
    assert (actions == 0).mean() == pytest.approx(p0, abs=0.01)
    uniform = EpsilonReference(prefers_left(), epsilon=1.0, seed=0)
    assert (uniform.predict(np.zeros((20000, 4)))[0] == 0).mean() == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]"):
        EpsilonReference(prefers_left(), epsilon=1.5)


def test_divergence_term_is_the_closed_form_kl():
    ref = EpsilonReference(prefers_left(), epsilon=0.1)
    model = ActionKLPPO("MlpPolicy", make_vec_env("CartPole-v1", 2), reference=ref, coef=1.0,
                        n_steps=32, batch_size=32, policy_kwargs=dict(net_arch=[8]))  # fmt: skip
    obs = th.randn(5, 4, generator=th.Generator().manual_seed(0))
    logits = model.policy.get_distribution(obs).distribution.logits
    expected = categorical_kl(logits, ref.action_logits(obs))
    assert th.allclose(model.action_divergence(obs), expected)


def test_large_coefficient_pulls_the_policy_to_the_reference():
    ref = EpsilonReference(prefers_left(), epsilon=0.0)

    def prob_left(coef):
        model = ActionKLPPO("MlpPolicy", make_vec_env("CartPole-v1", 4, seed=0), reference=ref,
                            coef=coef, n_steps=64, batch_size=64, seed=0, learning_rate=3e-3,
                            policy_kwargs=dict(net_arch=[16]))  # fmt: skip
        model.learn(1024)
        obs = th.randn(256, 4, generator=th.Generator().manual_seed(1))
        with th.no_grad():
            return float(model.policy.get_distribution(obs).distribution.probs[:, 0].mean())

    assert prob_left(5.0) > prob_left(0.0) + 0.2


def test_bad_input():
    env = make_vec_env("CartPole-v1", 1)
    with pytest.raises(ValueError, match="unknown divergence 'tv'"):
        ActionKLPPO("MlpPolicy", env, reference=None, divergence="tv")
    with pytest.raises(ValueError, match="coef must be a finite number >= 0"):
        ActionKLPPO("MlpPolicy", env, coef=float("nan"))
    model = ActionKLPPO("MlpPolicy", env, n_steps=16, batch_size=16)
    with pytest.raises(RuntimeError, match="no reference policy"):
        model.learn(16)


def _trained_params(**kwargs):
    ref = EpsilonReference(prefers_left(), epsilon=0.1)
    model = ActionKLPPO("MlpPolicy", make_vec_env("CartPole-v1", 2, seed=0), reference=ref,
                        n_steps=32, batch_size=32, n_epochs=2, seed=0, gamma=0.9,
                        policy_kwargs=dict(net_arch=[8]), device="cpu", **kwargs)  # fmt: skip
    model.learn(64)
    return model, th.nn.utils.parameters_to_vector(model.policy.parameters()).detach()


def test_coefficient_is_scaled_by_the_horizon_as_in_the_reference():
    # The reference multiplies the action-divergence coefficient by 1 / (1 - gamma).
    th.manual_seed(0)
    scaled, p_scaled = _trained_params(coef=0.5)
    assert scaled.effective_coef == pytest.approx(0.5 / (1 - 0.9))
    th.manual_seed(0)
    _, p_explicit = _trained_params(coef=5.0, horizon_scaling=False)
    th.manual_seed(0)
    unscaled, p_unscaled = _trained_params(coef=0.5, horizon_scaling=False)
    assert unscaled.effective_coef == 0.5
    assert th.allclose(p_scaled, p_explicit)  # coef 0.5 scaled == coef 5 unscaled at gamma 0.9
    assert not th.allclose(p_scaled, p_unscaled, atol=1e-4)
    with pytest.raises(TypeError, match="horizon_scaling must be True or False"):
        ActionKLPPO("MlpPolicy", make_vec_env("CartPole-v1", 1), horizon_scaling="yes")


def test_sqrt_chi2_is_the_floored_square_root():
    ref = EpsilonReference(prefers_left(), epsilon=0.1)
    models = {d: ActionKLPPO("MlpPolicy", make_vec_env("CartPole-v1", 1), reference=ref,
                             divergence=d, seed=0, policy_kwargs=dict(net_arch=[8]))
              for d in ("chi2", "sqrt_chi2")}  # fmt: skip
    models["sqrt_chi2"].policy.load_state_dict(models["chi2"].policy.state_dict())
    obs = th.randn(6, 4, generator=th.Generator().manual_seed(0))
    chi2 = models["chi2"].action_divergence(obs)
    expected = chi2.clamp(min=1e-4).sqrt()
    assert th.allclose(models["sqrt_chi2"].action_divergence(obs), expected)
