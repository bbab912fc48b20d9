"""evaluate_under_attack: the SB3 evaluation protocol with an attack in the loop."""

import numpy as np
import pytest

from advrl.attacks import evaluate_under_attack, make_attack


def test_clean_evaluation_matches_sb3_protocol(cartpole_victim):
    result = evaluate_under_attack(cartpole_victim, None, None, n_episodes=4, n_envs=2, seed=3)
    assert result.returns.shape == (4,) and result.mean_attack_norm == 0.0
    assert result.steps == int(result.lengths.sum())


def test_same_seed_same_returns_and_budget_is_respected(cartpole_victim):
    attack = make_attack("pgd", 0.2)
    a = evaluate_under_attack(cartpole_victim, None, attack, n_episodes=3, n_envs=3, seed=1)
    b = evaluate_under_attack(cartpole_victim, None, attack, n_episodes=3, n_envs=3, seed=1)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert 0 < a.max_attack_norm <= 0.2 + 1e-5


def test_gradient_attack_hurts_more_than_noise_on_cartpole(cartpole_victim):
    kw = dict(n_episodes=4, n_envs=4, seed=0)
    clean = evaluate_under_attack(cartpole_victim, None, None, **kw).mean_return
    noise = evaluate_under_attack(cartpole_victim, None, make_attack("uniform", 0.5), **kw)
    pgd = evaluate_under_attack(cartpole_victim, None, make_attack("pgd", 0.5), **kw)
    assert pgd.mean_return < 0.5 * clean
    assert pgd.mean_return < noise.mean_return


def test_bad_inputs(cartpole_victim):
    with pytest.raises(ValueError, match="n_episodes must be an integer >= 1, got 0"):
        evaluate_under_attack(cartpole_victim, None, None, n_episodes=0)
    with pytest.raises(ValueError, match="unknown env id 'Nope-v0'"):
        evaluate_under_attack(cartpole_victim.model, "Nope-v0", None, n_episodes=1)
    with pytest.raises(ValueError, match=r"policy expects observations of shape \(4,\)"):
        evaluate_under_attack(
            cartpole_victim.model, "Pendulum-v1", make_attack("uniform", 0.1), n_episodes=1
        )


def test_progress_bar_counts_the_episodes_and_is_silent_by_default(cartpole_victim, capsys):
    kw = dict(n_episodes=3, n_envs=2, seed=0)
    evaluate_under_attack(cartpole_victim, None, make_attack("fgsm", 0.1), **kw)
    assert capsys.readouterr().err == ""
    evaluate_under_attack(cartpole_victim, None, make_attack("fgsm", 0.1), **kw, progress_bar=True)
    err = capsys.readouterr().err
    assert "evaluate" in err and "3/3" in err
    with pytest.raises(TypeError, match="progress_bar must be True or False, got 'yes'"):
        evaluate_under_attack(cartpole_victim, None, None, n_episodes=1, progress_bar="yes")
